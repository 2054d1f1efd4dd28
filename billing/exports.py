"""Tables as CSV or xlsx downloads (statements, voucher codes)."""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

import xlsxwriter
from django.http import HttpResponse
from django.utils import timezone

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
Cell = str | int | datetime | None


def csv_safe(value: str) -> str:
    # A spreadsheet opening the CSV must never run a cell as a formula (OWASP CSV injection).
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(
            [
                csv_safe(cell)
                if isinstance(cell, str)
                else timezone.localtime(cell).isoformat(timespec="seconds")
                if isinstance(cell, datetime)
                else ("" if cell is None else cell)
                for cell in row
            ]
        )
    # The BOM lets Excel read UTF-8 (Cyrillic memos) without an import wizard.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_bytes(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    sheet = workbook.add_worksheet()
    bold = workbook.add_format({"bold": True})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for col, header in enumerate(headers):
        sheet.write_string(0, col, header, bold)
    for row_number, row in enumerate(rows, start=1):
        for col, cell in enumerate(row):
            if isinstance(cell, datetime):
                sheet.write_datetime(
                    row_number, col, timezone.localtime(cell).replace(tzinfo=None), when
                )
            elif isinstance(cell, int):
                sheet.write_number(row_number, col, cell)
            elif cell is not None:
                # Always a string cell: text is never read as a formula.
                sheet.write_string(row_number, col, cell)
    sheet.set_column(0, len(headers) - 1, 20)
    workbook.close()
    return buffer.getvalue()


def table_download(
    *, filename: str, fmt: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> HttpResponse:
    """An attachment of the table as `fmt` ('csv' or 'xlsx')."""
    content = _xlsx_bytes(headers, rows) if fmt == "xlsx" else _csv_bytes(headers, rows)
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
