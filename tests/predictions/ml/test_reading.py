"""predictions.ml.reading on a corpus generated here: real writers (xlsxwriter, openpyxl, the
csv module in the encodings Excel uses) and hostile files built byte by byte. No database."""

from __future__ import annotations

import codecs
import datetime
import random
import struct
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictions.ml.errors import TableError
from predictions.ml.reading import (
    ReadLimits,
    TableRead,
    check_file,
    read_table,
    sniff_format,
)
from predictions.ml.schema import Column, ColumnType, InputSchema

SCHEMA = InputSchema(
    columns=(
        Column("Make", ColumnType.CATEGORY, categories=("Buick", "Лада")),
        Column("Mileage", ColumnType.NUMBER),
        Column("Body type", ColumnType.CATEGORY, required=False),
        Column("Doors", ColumnType.INTEGER, required=False),
    )
)
SMALL = ReadLimits(max_bytes=2**20, max_rows=50, max_columns=10)

HEADER = ["Make", "Mileage", "Body type", "Doors"]
ROWS = [["Buick", 12000.5, "Sedan", 4], ["Лада", 800, "Hatchback", 5]]


def refused(path: Path, **kwargs: object) -> TableError:
    with pytest.raises(TableError) as caught:
        read_table(path, **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.fixture
def no_calamine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if the file reaches pandas/calamine."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("calamine must not see this file")

    monkeypatch.setattr(pd, "read_excel", boom)


# --- writers -----------------------------------------------------------------------------------


def xlsxwriter_file(path: Path, rows: list[list[object]]) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    for number, row in enumerate(rows):
        for column, value in enumerate(row):
            if value is not None:
                sheet.write(number, column, value)
    workbook.close()
    return path


def openpyxl_file(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def text_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
    'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
    '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main">'
)


def cell(ref: str | None, text: str) -> str:
    at = f' r="{ref}"' if ref else ""
    return f'<c{at} t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows: str, dimension: str | None = None) -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f"{SHEET_START}{dim}<sheetData>{rows}</sheetData></worksheet>"


def package(path: Path, sheet: str | bytes) -> Path:
    """A minimal xlsx around a hand-written sheet XML, as zipfile writes it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def table_rows(rows: int, columns: int = 2) -> str:
    """Header plus `rows` data rows with explicit references, as Excel writes them."""
    letters = [chr(65 + i) for i in range(columns)]
    body = [f'<row r="1">{"".join(cell(f"{x}1", f"h{x}") for x in letters)}</row>']
    for number in range(2, rows + 2):
        cells = "".join(cell(f"{x}{number}", f"v{number}") for x in letters)
        body.append(f'<row r="{number}">{cells}</row>')
    return "".join(body)


# --- well-formed files --------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [xlsxwriter_file, openpyxl_file])
def test_xlsx_from_either_writer_reads_with_the_schema(tmp_path: Path, writer) -> None:
    path = writer(tmp_path / "cars.xlsx", [HEADER, *ROWS])

    result = read_table(path, schema=SCHEMA)

    assert isinstance(result, TableRead)
    assert (result.format, result.encoding, result.delimiter) == ("xlsx", None, None)
    assert result.rows == 2
    assert result.extra_columns == []
    assert list(result.frame.columns) == SCHEMA.names
    assert result.frame["Make"].tolist() == ["Buick", "Лада"]
    assert result.frame["Mileage"].tolist() == [12000.5, 800]
    assert result.frame["Doors"].tolist() == [4, 5]
    assert list(result.frame.index) == [2, 3]  # the Excel row numbers, for messages
    assert all(dtype is object or dtype == "object" for dtype in result.frame.dtypes)


def test_xlsx_strips_text_and_blank_cells_become_none(tmp_path: Path) -> None:
    path = openpyxl_file(
        tmp_path / "t.xlsx",
        [["  Make ", "Mileage"], ["  Buick  ", None], ["   ", 5], [None, None], ["Saab", 7]],
    )

    result = read_table(path)

    assert list(result.frame.columns) == ["Make", "Mileage"]
    assert result.frame["Make"].tolist() == ["Buick", None, "Saab"]
    assert result.frame["Mileage"].tolist() == [None, 5, 7]
    assert result.rows == 3  # the fully blank row 4 is not a row
    assert list(result.frame.index) == [2, 3, 5]


def test_xlsx_keeps_dates_and_numbers_as_read(tmp_path: Path) -> None:
    path = tmp_path / "dates.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["When", "Amount", "Text"])
    sheet.write_datetime(1, 0, datetime.datetime(2024, 3, 1), date_format)
    sheet.write_number(1, 1, 1.25)
    sheet.write_string(1, 2, "=1+1")
    workbook.close()

    frame = read_table(path).frame

    assert frame.loc[2, "When"] == datetime.datetime(2024, 3, 1)
    assert frame.loc[2, "Amount"] == 1.25
    assert frame.loc[2, "Text"] == "=1+1"


def test_csv_with_commas(tmp_path: Path) -> None:
    path = text_file(
        tmp_path / "cars.csv",
        'Make,Mileage,Body type,Doors\nBuick,12000.5,"Sedan, long",4\nSaab,800,,2\n',
    )

    result = read_table(path, schema=SCHEMA)

    assert (result.format, result.encoding, result.delimiter) == ("csv", "utf-8", ",")
    assert result.decimal_comma is False
    assert result.frame["Mileage"].tolist() == ["12000.5", "800"]
    assert result.frame["Body type"].tolist() == ["Sedan, long", None]
    assert list(result.frame.index) == [2, 3]


def test_russian_excel_export_semicolons_decimal_commas_cp1251(tmp_path: Path) -> None:
    text = (
        "Марка;Пробег;Кузов;Комментарий\r\n"
        "Лада;1\u00a0234,5;седан;Цена, руб.\r\n"
        "Москвич;12 000;универсал;\r\n"
        "Волга;-0,75;седан;1,5 литра\r\n"
    )
    path = text_file(tmp_path / "export.csv", text, "cp1251")

    result = read_table(path)

    assert (result.encoding, result.delimiter, result.decimal_comma) == ("cp1251", ";", True)
    assert list(result.frame.columns) == ["Марка", "Пробег", "Кузов", "Комментарий"]
    assert result.frame["Марка"].tolist() == ["Лада", "Москвич", "Волга"]
    assert result.frame["Пробег"].tolist() == ["1234.5", "12000", "-0.75"]
    assert result.frame["Комментарий"].tolist() == ["Цена, руб.", None, "1,5 литра"]


def test_semicolon_file_with_decimal_points_is_left_alone(tmp_path: Path) -> None:
    path = text_file(tmp_path / "dots.csv", "Make;Mileage\nBuick;1.5\nSaab;2.25\nOpel;1,5\n")

    result = read_table(path)

    assert (result.delimiter, result.decimal_comma) == (";", False)
    assert result.frame["Mileage"].tolist() == ["1.5", "2.25", "1,5"]


def test_commas_are_never_decimals_in_a_comma_file(tmp_path: Path) -> None:
    path = text_file(tmp_path / "c.csv", 'Make,Mileage\nBuick,"1,5"\n')

    result = read_table(path)

    assert result.decimal_comma is False
    assert result.frame["Mileage"].tolist() == ["1,5"]


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "Make;Mileage\nЛада;10\n".encode())

    result = read_table(path, schema=SCHEMA)

    assert result.encoding == "utf-8-sig"
    assert result.frame["Make"].tolist() == ["Лада"]


@pytest.mark.parametrize(
    ("codec", "bom", "expected"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16-le"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16-be"),
    ],
)
def test_utf16_with_bom_tab_separated(
    tmp_path: Path, codec: str, bom: bytes, expected: str
) -> None:
    # Excel's "Unicode Text" export: UTF-16 with a BOM, tab-separated.
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + "Make\tMileage\r\nЛада\t10,5\r\nBuick\t7\r\n".encode(codec))

    result = read_table(path, schema=SCHEMA)

    assert (result.encoding, result.delimiter) == (expected, "\t")
    assert result.frame["Make"].tolist() == ["Лада", "Buick"]
    assert result.frame["Mileage"].tolist() == ["10.5", "7"]


def test_excel_sep_line_sets_the_delimiter(tmp_path: Path) -> None:
    path = text_file(tmp_path / "sep.csv", "sep=;\nMake;Mileage\nBuick,Skylark;10\n")

    result = read_table(path)

    assert result.delimiter == ";"
    assert result.frame["Make"].tolist() == ["Buick,Skylark"]
    assert list(result.frame.index) == [3]


def test_semicolon_file_with_commas_in_values_is_not_taken_for_commas(tmp_path: Path) -> None:
    # csv.Sniffer picks ',' here.
    path = text_file(
        tmp_path / "s.csv", "Make;Mileage;Note\nBuick;1;a, b, c\nSaab;2;d, e\nOpel;3;f, g, h\n"
    )

    assert read_table(path).delimiter == ";"


def test_headers_match_in_other_case_spacing_and_underscores(tmp_path: Path) -> None:
    path = text_file(tmp_path / "h.csv", "  MAKE ,mileage,BODY_TYPE,doors  \nBuick,1,Sedan,4\n")

    result = read_table(path, schema=SCHEMA)

    assert list(result.frame.columns) == SCHEMA.names
    assert result.frame.iloc[0].tolist() == ["Buick", "1", "Sedan", "4"]


def test_extra_columns_are_dropped_and_reported(tmp_path: Path) -> None:
    path = xlsxwriter_file(
        tmp_path / "x.xlsx",
        [["Id", "Make", "Mileage", "Colour", "Doors"], [1, "Buick", 10, "red", 4]],
    )

    result = read_table(path, schema=SCHEMA)

    assert result.extra_columns == ["Id", "Colour"]
    assert list(result.frame.columns) == SCHEMA.names


def test_missing_required_columns_are_all_named(tmp_path: Path) -> None:
    path = text_file(tmp_path / "m.csv", "Doors,Colour\n4,red\n")

    error = refused(path, schema=SCHEMA)

    assert error.code == "missing_columns"
    assert error.params["columns"] == ["Make", "Mileage"]
    assert "Make" in error.message
    assert "Mileage" in error.message


def test_missing_optional_columns_are_added_empty(tmp_path: Path) -> None:
    path = text_file(tmp_path / "o.csv", "Mileage,Make\n10,Buick\n20,Saab\n")

    result = read_table(path, schema=SCHEMA)

    assert list(result.frame.columns) == SCHEMA.names
    assert result.frame["Body type"].tolist() == [None, None]
    assert result.frame["Doors"].tolist() == [None, None]


def test_trailing_blank_rows_are_not_counted_csv(tmp_path: Path) -> None:
    text = "Make;Mileage\r\nBuick;1\r\n\r\n;;\r\n ; \r\nSaab;2\r\n;\r\n\r\n"
    path = text_file(tmp_path / "t.csv", text)

    result = read_table(path)

    assert result.rows == 2
    assert list(result.frame.index) == [2, 6]


def test_trailing_blank_rows_are_not_counted_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    border = workbook.add_format({"border": 1})
    sheet.write_row(0, 0, ["Make", "Mileage"])
    sheet.write_row(1, 0, ["Buick", 1])
    for row in range(2, 40):  # formatted but empty, and cells holding only spaces
        sheet.write_blank(row, 0, None, border)
        sheet.write_string(row, 1, "   ")
    workbook.close()

    result = read_table(path, limits=SMALL)

    assert result.rows == 1


def test_blank_leading_rows_and_columns_are_skipped(tmp_path: Path) -> None:
    path = package(
        tmp_path / "offset.xlsx",
        sheet_xml(
            f'<row r="3">{cell("B3", "Make")}{cell("C3", "Mileage")}</row>'
            f'<row r="4">{cell("B4", "Buick")}{cell("C4", "5")}</row>'
        ),
    )

    result = read_table(path, schema=SCHEMA)

    assert result.frame["Make"].tolist() == ["Buick"]
    assert list(result.frame.index) == [4]


def test_blank_and_duplicate_header_names_are_refused(tmp_path: Path) -> None:
    blank = text_file(tmp_path / "b.csv", "Make,,Mileage\nBuick,x,1\n")
    duplicate = text_file(tmp_path / "d.csv", "Make,Mileage,make \nBuick,1,Saab\n")

    error = refused(blank)
    assert (error.code, error.params["column"]) == ("bad_header", 2)
    error = refused(duplicate)
    assert error.code == "bad_header"
    assert error.params["duplicates"] == ["Make / make"]


def test_a_blank_column_without_a_name_is_ignored(tmp_path: Path) -> None:
    path = text_file(tmp_path / "b.csv", "Make,,Mileage,,\nBuick,,1,,\n")

    assert list(read_table(path).frame.columns) == ["Make", "Mileage"]


# --- empty, wrong and hostile files -----------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.csv", "empty.xlsx"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")

    assert refused(path).code == "empty_file"


def test_blank_text_file_is_empty(tmp_path: Path) -> None:
    path = text_file(tmp_path / "blank.csv", "\r\n ;; \r\n\r\n")

    assert refused(path).code == "empty_file"


def test_empty_sheet_is_empty(tmp_path: Path) -> None:
    path = xlsxwriter_file(tmp_path / "e.xlsx", [])

    assert refused(path).code == "empty_file"


def test_header_only(tmp_path: Path) -> None:
    csv_path = text_file(tmp_path / "h.csv", "Make,Mileage\r\n\r\n")
    xlsx_path = openpyxl_file(tmp_path / "h.xlsx", [["Make", "Mileage"]])

    assert refused(csv_path, schema=SCHEMA).code == "no_rows"
    assert refused(xlsx_path, schema=SCHEMA).code == "no_rows"


def test_random_bytes_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "random.xlsx"
    path.write_bytes(random.Random(5).randbytes(4096))

    error = refused(path)

    assert error.code == "unsupported_format"
    assert error.params["kind"] == "a binary file"


def test_legacy_xls_renamed_xlsx(tmp_path: Path, no_calamine: None) -> None:
    path = tmp_path / "old.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4088)

    error = refused(path)

    assert error.code == "legacy_xls"
    assert ".xlsx" in error.message


def test_password_protected_workbook(tmp_path: Path, no_calamine: None) -> None:
    path = tmp_path / "secret.xlsx"
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000
    path.write_bytes(ole + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 1000)

    assert refused(path).code == "password_protected"


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"), (b"\x89PNG\r\n\x1a\n", "a PNG image")],
)
def test_pdf_and_png_renamed_csv(tmp_path: Path, head: bytes, kind: str) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(head + bytes(range(256)) * 4)

    error = refused(path)

    assert (error.code, error.params["kind"]) == ("unsupported_format", kind)


def test_other_zip_files_are_not_workbooks(tmp_path: Path) -> None:
    path = tmp_path / "doc.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")

    error = refused(path)

    assert (error.code, error.params["kind"]) == ("unsupported_format", "a Word document")


def test_web_page_saved_as_xls(tmp_path: Path) -> None:
    path = text_file(tmp_path / "page.csv", "<html><body><table><tr><td>1</td></tr></table>")

    assert refused(path).code == "unsupported_format"


def test_truncated_xlsx_is_broken(tmp_path: Path) -> None:
    whole = xlsxwriter_file(tmp_path / "whole.xlsx", [HEADER, *ROWS]).read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(whole[: len(whole) // 2])

    assert refused(path).code == "broken_file"


def test_format_comes_from_content_not_name(tmp_path: Path) -> None:
    xlsx_named_csv = xlsxwriter_file(tmp_path / "really.csv", [HEADER, *ROWS])
    csv_named_xlsx = text_file(tmp_path / "really.xlsx", "Make,Mileage\nBuick,1\n")

    assert sniff_format(xlsx_named_csv) == "xlsx"
    assert sniff_format(csv_named_xlsx) == "csv"
    assert read_table(xlsx_named_csv).format == "xlsx"
    assert read_table(csv_named_xlsx).format == "csv"


def test_file_over_max_bytes(tmp_path: Path, no_calamine: None) -> None:
    path = text_file(tmp_path / "big.csv", "Make,Mileage\n" + "Buick,1\n" * 200_000)

    error = refused(path, limits=ReadLimits(max_bytes=1_000_000))

    assert error.code == "file_too_large"
    assert error.params["limit_mb"] == 1.0


def test_zip_bomb_is_refused_without_unpacking(tmp_path: Path, no_calamine: None) -> None:
    # ~200 MB of sheet XML that deflates to about 200 kB.
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f"{SHEET_START}<sheetData>".encode())
            zeros = b"0" * 2**20
            for _ in range(200):
                sheet.write(zeros)
    assert path.stat().st_size < 2**20

    error = refused(path)

    assert error.code == "zip_bomb"
    assert "compressed" in error.params["detail"]


def test_zip_that_lies_about_its_sizes_is_refused(tmp_path: Path, no_calamine: None) -> None:
    path = package(tmp_path / "liar.xlsx", sheet_xml(table_rows(2000)))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    declared = 5000  # far less than the real sheet
    struct.pack_into("<L", data, info.header_offset + 22, declared)  # local header
    central = data.find(b"PK\x01\x02" + data[info.header_offset + 4 : info.header_offset + 10])
    while data[central + 46 : central + 46 + 24] != b"xl/worksheets/sheet1.xml":
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<L", data, central + 24, declared)  # central directory
    path.write_bytes(bytes(data))

    error = refused(path)

    assert error.code == "zip_bomb"
    assert "more than it declares" in error.params["detail"]


def test_huge_declared_dimension_is_refused_before_calamine(
    tmp_path: Path, no_calamine: None
) -> None:
    # A 12 kB workbook claiming the whole sheet, as a file crafted to abort calamine would.
    rows = table_rows(150)
    path = package(tmp_path / "dim.xlsx", sheet_xml(rows, dimension="A1:XFD1048576"))
    assert path.stat().st_size < 20_000

    error = refused(path)

    assert error.code == "sheet_too_large"
    assert error.params["cell"] == "XFD1048576"
    assert (error.params["rows"], error.params["columns"]) == (1_048_576, 16_384)


def test_lone_far_cell_without_dimension_is_refused_before_calamine(
    tmp_path: Path, no_calamine: None
) -> None:
    rows = f'<row r="1048576">{cell("XFD1048576", "x")}</row>'
    path = package(tmp_path / "far.xlsx", sheet_xml(rows))

    error = refused(path)

    assert (error.code, error.params["cell"]) == ("sheet_too_large", "XFD1048576")


def test_far_cell_behind_a_small_dimension_is_refused(tmp_path: Path, no_calamine: None) -> None:
    # The dimension says A1:B2; the cells say otherwise (this one aborts calamine: 512 GiB).
    rows = f'<row r="1">{cell("A1", "a")}</row><row r="1048576">{cell("XFD1048576", "x")}</row>'
    path = package(tmp_path / "liar.xlsx", sheet_xml(rows, dimension="A1:B2"))

    error = refused(path)

    assert (error.code, error.params["cell"]) == ("sheet_too_large", "XFD1048576")


def test_cells_without_references_are_placed_as_calamine_places_them(
    tmp_path: Path,
) -> None:
    no_refs = "<row>" + cell(None, "Make") + cell(None, "Mileage") + "</row>"
    no_refs += "<row>" + cell(None, "Buick") + cell(None, "3") + "</row>"
    ok = package(tmp_path / "ok.xlsx", sheet_xml(no_refs))
    wide = package(
        tmp_path / "wide.xlsx",
        sheet_xml("<row>" + "".join(cell(None, f"h{i}") for i in range(11)) + "</row>"),
    )
    deep = package(
        tmp_path / "deep.xlsx", sheet_xml("<row/>" * 60 + "<row>" + cell(None, "x") + "</row>")
    )

    assert read_table(ok, schema=SCHEMA, limits=SMALL).frame["Make"].tolist() == ["Buick"]
    error = refused(wide, limits=SMALL)
    assert (error.code, error.params["cell"], error.params["columns"]) == (
        "sheet_too_large",
        "K1",
        11,
    )
    error = refused(deep, limits=SMALL)
    assert (error.code, error.params["cell"]) == ("sheet_too_large", "A61")


def test_namespaced_cells_are_checked_too(tmp_path: Path, no_calamine: None) -> None:
    rows = f'<x:row r="1">{cell("A1", "a")}{cell("ZZ1", "b")}</x:row>'.replace("<c ", "<x:c ")
    path = package(tmp_path / "ns.xlsx", sheet_xml(rows.replace("</c>", "</x:c>")))

    error = refused(path, limits=SMALL)

    assert (error.code, error.params["cell"]) == ("sheet_too_large", "ZZ1")


def test_the_sheet_checked_is_the_one_calamine_reads_first(
    tmp_path: Path, no_calamine: None
) -> None:
    # workbook.xml lists sheet2.xml first (after a decoy in a comment, which XML parsers skip);
    # its file name sorts second.
    path = tmp_path / "order.xlsx"
    workbook = WORKBOOK.replace(
        '<sheet name="Data" sheetId="1" r:id="rId1"/>',
        '<!-- <sheet name="Decoy" sheetId="1" r:id="rId1"/> -->'
        '<sheet name="First" sheetId="2" r:id="rId2"/><sheet name="Data" sheetId="1" r:id="rId1"/>',
    )
    rels = WORKBOOK_RELS.replace(
        "</Relationships>",
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="/xl/worksheets/sheet2.xml"/></Relationships>',
    )
    far = f'<row r="1">{cell("A1", "a")}</row><row r="900">{cell("A900", "x")}</row>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml(table_rows(2)))
        archive.writestr("xl/worksheets/sheet2.xml", sheet_xml(far))

    error = refused(path, limits=SMALL)

    assert (error.code, error.params["cell"]) == ("sheet_too_large", "A900")


def test_duplicate_zip_members_are_refused(tmp_path: Path, no_calamine: None) -> None:
    path = package(tmp_path / "dup.xlsx", sheet_xml(table_rows(2)))
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(path, "a") as archive,
    ):
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml(table_rows(900)))

    error = refused(path, limits=SMALL)

    assert (error.code, error.params["detail"]) == ("broken_file", "duplicate member names")


@pytest.mark.parametrize(
    "spell",
    [
        lambda ref, text: f"<c t=\"inlineStr\" r='{ref}'><is><t>{text}</t></is></c>",
        lambda ref, text: f'<x:c\n  t="inlineStr"  r = "{ref}"><is><t>{text}</t></is></x:c>',
        lambda ref, text: f'<c r="{ref.lower()}" t="inlineStr"><is><t>{text}</t></is></c>',
    ],
    ids=["r-last-single-quotes", "prefixed-spaced", "lower-case"],
)
def test_unusual_but_valid_cell_tags_are_read_and_checked(tmp_path: Path, spell) -> None:
    rows = f'<row r="1">{spell("A1", "Make")}{spell("B1", "Mileage")}</row>'
    rows += f'<row r="2">{spell("A2", "Buick")}{spell("B2", "7")}</row>'
    ok = package(tmp_path / "ok.xlsx", sheet_xml(rows))
    wide = package(tmp_path / "wide.xlsx", sheet_xml(rows + f'<row r="3">{spell("K3", "x")}</row>'))

    assert read_table(ok, schema=SCHEMA, limits=SMALL).frame["Mileage"].tolist() == ["7"]
    error = refused(wide, limits=SMALL)
    assert (error.code, error.params["columns"], error.params["rows"]) == ("sheet_too_large", 11, 3)


def test_limits_are_inclusive(tmp_path: Path) -> None:
    limits = ReadLimits(max_rows=5, max_columns=3)
    fits = package(tmp_path / "fits.xlsx", sheet_xml(table_rows(5, columns=3)))
    too_wide = package(tmp_path / "wide.xlsx", sheet_xml(table_rows(5, columns=4)))
    too_long = package(tmp_path / "long.xlsx", sheet_xml(table_rows(6, columns=3)))

    assert read_table(fits, limits=limits).rows == 5
    error = refused(too_wide, limits=limits)
    assert (error.code, error.params["columns"], error.params["max_columns"]) == (
        "sheet_too_large",
        4,
        3,
    )
    error = refused(too_long, limits=limits)
    assert (error.code, error.params["rows"], error.params["max_rows"]) == (
        "sheet_too_large",
        7,
        5,
    )


def test_too_many_rows_csv(tmp_path: Path) -> None:
    path = text_file(tmp_path / "long.csv", "Make,Mileage\n" + "Buick,1\n" * 60 + "\n\n")

    error = refused(path, limits=SMALL)

    assert error.code == "too_many_rows"
    assert (error.params["rows"], error.params["limit"]) == (60, 50)


def test_too_many_columns_csv(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(11))
    path = text_file(tmp_path / "wide.csv", f"{header}\n{'1,' * 10}1\n")

    error = refused(path, limits=SMALL)

    assert error.code == "too_many_columns"
    assert (error.params["columns"], error.params["limit"]) == (11, 10)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ('Make,Mileage\nBuick,1\nSaab,"2\nOpel,3\n', 3, "never closed"),
        ("Make,Mileage\nBuick,1\nSaab,2,3\n", 3, "3 values but the header has 2"),
        ("Make,Mileage\nBuick,1\nSaab\n", 3, "1 value but the header has 2"),
        ("Make,Mileage\r\nBuick,1\r\nSa\x00ab,2\r\n", 3, "NUL byte"),
        ('Make,Mileage\n"Bu"ick,1\n', 2, "closing quote is followed"),
        ("Make,Mileage\nBuick,1\nSaab," + "9" * 200_000 + "\n", 3, "longer than"),
    ],
)
def test_malformed_csv(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = text_file(tmp_path / "bad.csv", text)

    error = refused(path)

    assert error.code == "malformed_csv"
    assert error.params["line"] == line
    assert problem in error.params["problem"]
    assert f"line {line}" in error.message


@pytest.mark.parametrize(
    ("data", "found"),
    [
        ("Make;City\nJosé;Zürich\nRené;Genève\n".encode("latin-1"), None),
        ("Make,Mileage\nBuick,1\n".encode("utf-16-le"), "UTF-16 without a byte-order mark"),
        (codecs.BOM_UTF32_LE + "Make\nBuick\n".encode("utf-32-le"), "UTF-32"),
    ],
)
def test_unknown_encoding(tmp_path: Path, data: bytes, found: str | None) -> None:
    path = tmp_path / "enc.csv"
    path.write_bytes(data)

    error = refused(path)

    assert (error.code, error.params["found"]) == ("unknown_encoding", found)


def test_check_file_returns_the_format(tmp_path: Path) -> None:
    xlsx = xlsxwriter_file(tmp_path / "a.xlsx", [HEADER, *ROWS])
    text = text_file(tmp_path / "a.csv", "Make\nBuick\n")

    assert check_file(xlsx, SMALL) == "xlsx"
    assert check_file(text, SMALL) == "csv"


# --- nothing but TableError, whatever the bytes -------------------------------------------------

_FUZZ_LIMITS = ReadLimits(max_bytes=2**20, max_rows=200, max_columns=20)


def _valid_xlsx_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return xlsxwriter_file(Path(folder) / "v.xlsx", [HEADER, *ROWS]).read_bytes()


VALID_XLSX = _valid_xlsx_bytes()


def _read_bytes(data: bytes, suffix: str) -> None:
    """Reads `data`; fails the test on anything but a TableRead or a TableError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        outcome: TableRead | TableError
        try:
            outcome = read_table(path, schema=SCHEMA, limits=_FUZZ_LIMITS)
        except TableError as error:
            outcome = error
    if isinstance(outcome, TableError):
        assert outcome.code
        assert outcome.message
    else:
        assert list(outcome.frame.columns) == SCHEMA.names


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from([".csv", ".xlsx"]))
def test_any_bytes_give_a_table_or_a_table_error(data: bytes, suffix: str) -> None:
    _read_bytes(data, suffix)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID_XLSX) - 1), st.integers(0, 255)), max_size=8))
def test_damaged_workbooks_give_a_table_or_a_table_error(flips: list[tuple[int, int]]) -> None:
    data = bytearray(VALID_XLSX)
    for position, value in flips:
        data[position] = value
    _read_bytes(bytes(data), ".xlsx")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list('ab,;\t|"\r\n 1,5Жé\x00')), max_size=300))
def test_any_text_gives_a_table_or_a_table_error(text: str) -> None:
    for encoding in ("utf-8", "cp1251", "utf-16"):
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        _read_bytes(data, ".csv")
