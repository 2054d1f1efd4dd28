"""Reading a customer's table (xlsx or CSV) into a DataFrame, safely.

`check_file` runs before any parser sees the bytes: size, format by content (never by the
file's name), and for xlsx the zip and the first sheet's cell references. `read_table` then
parses, drops blank rows, checks the header and matches it to an `InputSchema`. Every problem
is a `TableError` with a stable `code`, English text and `params`; no other exception leaves
`read_table` for any bytes a customer can send.

Why the xlsx guard reads the sheet XML itself (python-calamine 0.9, measured): calamine builds a
dense grid from A1 to the furthest non-empty cell and trusts the cell references, so a 12 kB
file with cells at A1 and XFD1048576 asks for 512 GiB and aborts the process (SIGABRT), and a
lone cell there raises pyo3's PanicException (a BaseException). Neither can be caught, so every
cell reference of the sheet calamine will read is checked against the limits first. The
`<dimension>` element is checked too but never trusted: it may be missing or too small. Cells
without an `r` attribute take their position from their neighbours, as calamine does; the
guard follows the same rule. The zip's declared sizes are not trusted either: every member is
inflated here, bounded by its declared size, before calamine inflates it again.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import TableError
from .schema import InputSchema, normalise_header

XLSX = "xlsx"
CSV = "csv"

_MB = 2**20


@dataclass(frozen=True)
class ReadLimits:
    """What a file may hold before we refuse it. The defaults are sized to each other:

    - 100,000 data rows is the product's limit per file.
    - 100 columns: the widest model reads about 80 inputs (a house-sales set), leaving room
      for the customer's own id/notes columns. 100k x 100 = 10M cells, which is about what a
      50 MB xlsx can really hold (100k x 12 is 5.6 MB). The limit matters because calamine
      allocates rows x columns: a 1.5 kB file with one cell at row 100,001, column 200 costs
      11 s and 1.1 GB to read (measured), at column 100 about 4 s and 0.6 GB, the same as the
      largest honest file.
    - 500 MB unpacked: a dense 100k x 100 sheet is about 400 MB of XML (38 bytes a cell).
    - ratio 100: honest sheets compress 8-27x even when every cell is the same (measured with
      xlsxwriter and openpyxl); a deflate bomb is about 1,000x.
    """

    max_bytes: int = 50 * _MB
    max_rows: int = 100_000
    max_columns: int = 100
    max_uncompressed_bytes: int = 500 * _MB
    max_compression_ratio: float = 100.0


DEFAULT_LIMITS = ReadLimits()


@dataclass(frozen=True)
class TableRead:
    """A table as read: `frame` has one object column per header (schema names when a schema
    was given), missing values are None, and its index (named "row") is each row's number in
    the file (the Excel row, or the CSV line where the record starts), for messages."""

    frame: pd.DataFrame
    extra_columns: list[str]
    rows: int
    format: str
    encoding: str | None
    delimiter: str | None
    decimal_comma: bool = False


def _fail(code: str, message: str, **params: Any) -> TableError:
    return TableError(message, code=code, **params)


# --- format by content ------------------------------------------------------------------------

_SNIFF_BYTES = 64 * 1024
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a media file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"{\\rtf", "an RTF document"),
)
_MARKUP = (b"<!doctype html", b"<html", b"<?xml", b"<table", b"<!--")
# Bytes that never occur in text (tab, LF, CR, form feed and Ctrl-Z excepted).
_CONTROL = bytes([*range(0, 9), 11, *range(14, 26), *range(27, 32)])
_SAVE_AS = (
    "Open it in Excel and save it as 'Excel Workbook (.xlsx)' or 'CSV UTF-8', then upload it again."
)


def sniff_format(path: Path) -> str:
    """The format, "xlsx" or "csv", from the bytes (never the name); else a TableError."""
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head:
        raise _fail("empty_file", "The file is empty.")
    if head.startswith(_OLE2):
        _refuse_ole2(path)
    if head.startswith(_ZIP):
        return _sniff_zip(path)
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            raise _unsupported(kind)
    _check_text_head(head)
    return CSV


def _unsupported(kind: str) -> TableError:
    return _fail(
        "unsupported_format",
        f"This file is {kind}, not a table. Upload an Excel workbook (.xlsx) or a CSV file.",
        kind=kind,
    )


def _refuse_ole2(path: Path) -> None:
    if _file_contains(path, _ENCRYPTED_PACKAGE):
        raise _fail(
            "password_protected",
            "The workbook is protected with a password. Remove the password in Excel "
            "(File > Info > Protect Workbook), save it as .xlsx and upload it again.",
        )
    raise _fail(
        "legacy_xls",
        f"This is an old-style Excel 97-2003 file (.xls), which we do not read. {_SAVE_AS}",
    )


def _file_contains(path: Path, needle: bytes, limit: int = 64 * _MB) -> bool:
    seen = 0
    tail = b""
    with path.open("rb") as fh:
        while seen < limit:
            chunk = fh.read(_MB)
            if not chunk:
                return False
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
            seen += len(chunk)
    return False


def _sniff_zip(path: Path) -> str:
    with _open_zip(path) as archive:
        names = {name.lower() for name in archive.namelist()}
    if "xl/workbook.xml" in names:
        return XLSX
    if "xl/workbook.bin" in names:
        kind = "an Excel binary workbook (.xlsb)"
    elif "content.xml" in names and "mimetype" in names:
        kind = "an OpenDocument file (.ods or .odt)"
    elif "word/document.xml" in names:
        kind = "a Word document"
    elif any(name.startswith("ppt/") for name in names):
        kind = "a PowerPoint presentation"
    else:
        kind = "a zip archive"
    raise _fail(
        "unsupported_format",
        f"This file is {kind}, not an Excel workbook. {_SAVE_AS}",
        kind=kind,
    )


def _check_text_head(head: bytes) -> None:
    """Refuse a head that is not text: binary, UTF-32, UTF-16 without a BOM, or markup."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise _unknown_encoding("UTF-32")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    if len(head) >= 16 and _looks_like_bomless_utf16(head):
        raise _unknown_encoding("UTF-16 without a byte-order mark")
    control = sum(head.count(byte) for byte in _CONTROL)
    if control > max(2, len(head) // 100):
        raise _unsupported("a binary file")
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()[:64].lower()
    if start.startswith(_MARKUP):
        raise _fail(
            "unsupported_format",
            "This file is a web page or XML (perhaps an 'XML Spreadsheet' or a page saved "
            f"as .xls), not a table we read. {_SAVE_AS}",
            kind="markup",
        )


def _looks_like_bomless_utf16(head: bytes) -> bool:
    even, odd = head[0::2], head[1::2]
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    return max(nul_even, nul_odd) > 0.3 and min(nul_even, nul_odd) < 0.05


def _unknown_encoding(found: str | None = None) -> TableError:
    what = f" ({found})" if found else ""
    return _fail(
        "unknown_encoding",
        f"We could not tell how the text of this CSV file is encoded{what}. Save it as "
        "'CSV UTF-8' (Excel: File > Save As > CSV UTF-8) and upload it again.",
        found=found,
    )


# --- guards before parsing ----------------------------------------------------------------------


def check_file(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> str:
    """The guards before any parser sees the file; returns its format ("xlsx" or "csv")."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _fail(
            "file_too_large",
            f"The file is {size / _MB:.1f} MB; files up to {limits.max_bytes / _MB:g} MB "
            "are accepted.",
            limit_mb=round(limits.max_bytes / _MB, 1),
            size_mb=round(size / _MB, 1),
        )
    file_format = sniff_format(path)
    if file_format == XLSX:
        _check_xlsx(path, limits)
    return file_format


_MAX_ZIP_MEMBERS = 10_000  # an honest workbook has a few dozen parts
_MAX_CENTRAL_DIRECTORY = 4 * _MB
_RATIO_FLOOR = _MB  # a small part may compress well; it cannot hurt
_CHUNK = _MB
_EOCD = struct.Struct("<4s4H2LH")


def _broken(detail: str) -> TableError:
    return _fail(
        "broken_file",
        "The file looks like an Excel workbook but cannot be read: it is damaged or not "
        f"really .xlsx. {_SAVE_AS}",
        detail=detail,
    )


def _zip_bomb(detail: str, limits: ReadLimits) -> TableError:
    return _fail(
        "zip_bomb",
        "The workbook unpacks to far more data than a table of its size can hold "
        f"({detail}), so we do not open it. {_SAVE_AS}",
        detail=detail,
        limit_mb=round(limits.max_uncompressed_bytes / _MB, 1),
    )


def _open_zip(path: Path) -> zipfile.ZipFile:
    """A ZipFile, once the end record shows a central directory of a sane size (zipfile reads
    all of it into memory)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - _EOCD.size - 65535))
            tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at >= 0 and len(tail) - at >= _EOCD.size:
            fields = _EOCD.unpack_from(tail, at)
            entries, directory_size = fields[4], fields[5]
            if entries >= 0xFFFF or directory_size >= 0xFFFFFFFF:
                raise _broken("zip64 archive")
            if entries > _MAX_ZIP_MEMBERS or directory_size > _MAX_CENTRAL_DIRECTORY:
                raise _fail(
                    "zip_bomb",
                    f"The workbook holds {entries:,} parts; a real workbook has far fewer, "
                    "so we do not open it.",
                    detail=f"{entries} members",
                )
        archive = zipfile.ZipFile(path)
    except TableError:
        raise
    except Exception as exc:  # zipfile raises many kinds on damaged archives
        raise _broken(f"zip: {exc}") from exc
    if len(archive.infolist()) > _MAX_ZIP_MEMBERS:
        archive.close()
        raise _broken("too many members")
    return archive


def _check_xlsx(path: Path, limits: ReadLimits) -> None:
    with _open_zip(path) as archive, path.open("rb") as fh:
        members = archive.infolist()
        _check_zip_members(members, limits)
        by_name = {info.filename.lower(): info for info in members}
        sheets = _first_sheet_members(fh, by_name, limits)
        for info in members:
            if info.filename.lower() in sheets:
                _scan_sheet(fh, info, limits)
            else:
                for _chunk in _inflate(fh, info, limits):
                    pass


def _check_zip_members(members: list[zipfile.ZipInfo], limits: ReadLimits) -> None:
    names = [info.filename.lower() for info in members]
    if len(set(names)) != len(names):
        raise _broken("duplicate member names")
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise _broken("encrypted member")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _broken(f"compression method {info.compress_type}")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.max_compression_ratio:
            raise _zip_bomb(f"a part is compressed {ratio:,.0f} to 1", limits)
    if total > limits.max_uncompressed_bytes:
        raise _zip_bomb(f"{total / _MB:,.0f} MB unpacked", limits)


def _inflate(fh: Any, info: zipfile.ZipInfo, limits: ReadLimits) -> Iterator[bytes]:
    """A member's bytes, inflated here from the raw stream, never more than it declares."""
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
        raise _broken(f"bad local header for {info.filename}")
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    fh.seek(info.header_offset + 30 + name_length + extra_length)
    remaining = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise _broken(f"stored sizes differ for {info.filename}")
        while remaining:
            data = fh.read(min(_CHUNK, remaining))
            if not data:
                raise _broken(f"{info.filename} is cut short")
            remaining -= len(data)
            yield data
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = 0
    while remaining and not inflater.eof:
        data = fh.read(min(_CHUNK, remaining))
        if not data:
            raise _broken(f"{info.filename} is cut short")
        remaining -= len(data)
        while True:
            try:
                out = inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise _broken(f"{info.filename}: {exc}") from exc
            produced += len(out)
            if produced > info.file_size:
                raise _zip_bomb(f"{info.filename} unpacks to more than it declares", limits)
            if out:
                yield out
            data = inflater.unconsumed_tail
            if inflater.eof or (not data and len(out) < _CHUNK):
                break
    if not inflater.eof or produced != info.file_size:
        raise _broken(f"{info.filename} does not unpack to its declared size")


def _read_member(fh: Any, info: zipfile.ZipInfo, limits: ReadLimits, cap: int = 16 * _MB) -> bytes:
    if info.file_size > cap:
        raise _broken(f"{info.filename} is too large")
    return b"".join(_inflate(fh, info, limits))


_XML_TAG = r'<(?:[^\s/>:!?]+:)?{name}((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*)\s*/?>'
_SHEET_TAG = re.compile(_XML_TAG.format(name="sheet").encode())
_RELATIONSHIP_TAG = re.compile(_XML_TAG.format(name="Relationship").encode())
_ATTRIBUTE = re.compile(rb'([^\s=/>]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
# calamine reads a sheet only from these folders (it refuses any other path).
_SHEET_FOLDERS = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")
_COMMENTS = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)


def _attributes(raw: bytes) -> dict[bytes, bytes]:
    return {m[1]: m[2] if m[2] is not None else m[3] for m in _ATTRIBUTE.finditer(raw)}


def _first_sheet_members(
    fh: Any, by_name: dict[str, zipfile.ZipInfo], limits: ReadLimits
) -> set[str]:
    """Lower-cased names of the member(s) calamine may read as the first sheet: resolved as
    calamine does (first <sheet> of xl/workbook.xml, its r:id in the workbook's rels); if that
    fails, every part in a sheet folder."""
    found: set[str] = set()
    workbook = by_name.get("xl/workbook.xml")
    rels = by_name.get("xl/_rels/workbook.xml.rels")
    if workbook is not None and rels is not None:
        sheet = _SHEET_TAG.search(_without_comments(_read_member(fh, workbook, limits)))
        attrs = _attributes(sheet[1]) if sheet else {}
        rid = attrs.get(b"r:id") or attrs.get(b"relationships:id")
        for match in _RELATIONSHIP_TAG.finditer(_without_comments(_read_member(fh, rels, limits))):
            rel = _attributes(match[1])
            if rid is not None and rel.get(b"Id") == rid and rel.get(b"Target"):
                target = rel[b"Target"].decode("utf-8", "replace")
                found |= {_calamine_path(target), _calamine_path(_unescape(target))}
    found = {name.lower() for name in found if name.lower() in by_name}
    if not found:  # calamine will likely fail too; check every part it could take for a sheet
        found = {name for name in by_name if name.startswith(_SHEET_FOLDERS)}
    return found


def _without_comments(xml: bytes) -> bytes:
    # The XML parser skips these; a regex would not, and could be steered to another sheet.
    return _COMMENTS.sub(b"", xml)


def _calamine_path(target: str) -> str:
    if target.startswith("/xl/"):
        return target[1:]
    if target.startswith("xl/"):
        return target
    return f"xl/{target}"


def _unescape(text: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'")):
        text = text.replace(entity, char)
    return text.replace("&amp;", "&")


# --- the first sheet's cell references ----------------------------------------------------------

_MAX_TAG = _MB  # no honest tag is this long
_DIMENSION = re.compile(rb'<(?:[^\s/>:!?]+:)?dimension\s[^>]*?\bref\s*=\s*["\']([^"\']*)["\']')
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
_TAG_END = re.compile(rb'<[^\s/>!?]*(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*\s*/?>')
_REFERENCE = re.compile(rb"([A-Za-z]*)([0-9]+)")
_UTF16_XML = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']utf-?(16|32)", re.IGNORECASE)
_PREFIX = rb"(?:[^\s/>:!?]+:)?"
_OTHER_ATTRIBUTES = rb'(?:\s+(?!r\s*=)[^\s=/>]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*'
# A whole <c> start tag with no r attribute.
_IMPLICIT_CELL = re.compile(rb"<" + _PREFIX + rb"c" + _OTHER_ATTRIBUTES + rb"\s*/?>")
_TAGS = re.compile(
    rb"<" + _PREFIX + rb"(row|c)"
    rb'((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*)\s*(/?)>'  # a start tag
    rb"|</" + _PREFIX + rb"(row)(?=[\s>])"  # the end of a row
    rb"|<" + _PREFIX + rb"(row|c)(?=[\s/>])"  # a start tag we cannot parse
)


def _column_letters(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + char - 64
    return number


def _letters_up_to(count: int) -> str:
    """A regex for upper-case column letters A..(column `count`)."""
    top = _column_letters(count)
    options = [f"[A-Z]{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    for i, char in enumerate(top):
        if char > "A":
            options.append(f"{top[:i]}[A-{chr(ord(char) - 1)}][A-Z]{{{len(top) - i - 1}}}")
    options.append(top)
    return "|".join(options)


def _number_up_to(limit: int) -> str:
    """A regex for the decimal numbers 1..limit written without leading zeros."""
    top = str(limit)
    options = [f"[1-9][0-9]{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    for i, char in enumerate(top):
        low = "1" if i == 0 else "0"
        if char > low:
            options.append(f"{top[:i]}[{low}-{chr(ord(char) - 1)}][0-9]{{{len(top) - i - 1}}}")
    options.append(top)
    return "|".join(options)


@functools.lru_cache(maxsize=8)
def _plain_cells(limits: ReadLimits) -> re.Pattern[bytes]:
    """Finds every <c> tag that is NOT `<c r="REF"` with REF inside the limits. Nearly every
    writer puts r first, so an honest sheet has no match and is scanned at C speed (about
    0.15 s for 100k x 12); any match sends the sheet to a slower scan."""
    good = f'r="(?:{_letters_up_to(limits.max_columns)})(?:{_number_up_to(limits.max_rows + 1)})"'
    return re.compile(rf"<c(?:\s(?!{good})|[/>])".encode())


_FAST, _EXPLICIT, _SEQUENTIAL = "fast", "explicit", "sequential"


@functools.lru_cache(maxsize=8)
def _unusual_references(limits: ReadLimits) -> re.Pattern[bytes]:
    """The first r of any <c> tag, unless it is an upper-case reference inside the limits."""
    good = f"(?:{_letters_up_to(limits.max_columns)})(?:{_number_up_to(limits.max_rows + 1)})"
    return re.compile(
        rb"<"
        + _PREFIX
        + rb"c"
        + _OTHER_ATTRIBUTES
        + rf"""\s+r\s*=\s*(?:"(?!{good}")([^"]*)"|'(?!{good}')([^']*)')""".encode()
    )


class _SlowerScan(Exception):
    """The sheet needs the next, slower way of scanning, from its start."""


class _SheetScan:
    """Fed a sheet's XML in pieces; refuses a sheet whose cells reach beyond the limits."""

    def __init__(self, limits: ReadLimits, name: str, mode: str) -> None:
        self.limits = limits
        self.name = name
        self.mode = mode
        self.plain = _plain_cells(limits)
        self.tail = b""
        self.started = False
        self.in_header = True  # before <sheetData>, where <dimension> lives
        self.row_index = 0  # calamine's cursor for cells without r (0-based)
        self.col_index = 0

    def feed(self, chunk: bytes) -> None:
        if not self.started:
            self.started = True
            if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
                b"\x00" in chunk[:1024] or _UTF16_XML.match(chunk[:512])
            ):
                raise _broken(f"{self.name} is not UTF-8 XML")
        buffer = self.tail + chunk
        cut = buffer.rfind(b"<")
        if cut < 0:  # text between tags
            self.tail = b""
            return
        window, self.tail = buffer[:cut], buffer[cut:]
        if len(self.tail) > _MAX_TAG:
            window, self.tail = buffer, b""
            if not self._long_tag_is_harmless(buffer[cut:]):
                raise _broken(f"{self.name} has an XML tag over 1 MB")
        self._scan(window)

    def close(self) -> None:
        self._scan(self.tail)
        self.tail = b""

    def _long_tag_is_harmless(self, tail: bytes) -> bool:
        # A comment or CDATA (no '<' follows it in the buffer), or a complete tag then text.
        return tail.startswith((b"<!", b"<?")) or _TAG_END.match(tail) is not None

    def _scan(self, window: bytes) -> None:
        if not window:
            return
        if self.in_header:
            end = window.find(b"sheetData")
            self._check_dimension(window if end < 0 else window[:end])
            self.in_header = end < 0
        if self.mode == _SEQUENTIAL:
            self._scan_sequential(window)
        elif self.mode == _EXPLICIT:
            self._scan_explicit(window)
        elif self.plain.search(window) or _PREFIXED_CELL.search(window):
            raise _SlowerScan

    def _check_dimension(self, head: bytes) -> None:
        match = _DIMENSION.search(head)
        if not match:
            return
        for part in match[1].split(b":"):
            reference = _REFERENCE.fullmatch(part.strip().replace(b"$", b""))
            if reference and reference[1]:
                row, column = int(reference[2]), _column_number(reference[1])
                self._check_position(row, column, part.decode("ascii", "replace"), "declares")

    def _scan_explicit(self, window: bytes) -> None:
        """Every cell has an r attribute (maybe not first, maybe prefixed or single-quoted):
        only references that do not plainly fit the limits are looked at one by one."""
        if _IMPLICIT_CELL.search(window):
            raise _SlowerScan
        for match in _unusual_references(self.limits).finditer(window):
            reference = match[1] if match[1] is not None else match[2]
            row, column = self._parse(reference, need_column=True)
            self._check_position(row, column, reference.decode("ascii", "replace"))

    def _scan_sequential(self, window: bytes) -> None:
        """Positions exactly as calamine computes them, cells without r included: such a cell
        sits right of the previous one, in the row after the previous row."""
        for match in _TAGS.finditer(window):
            start_name, attrs, empty, end_name, bad_name = match.groups()
            if bad_name:
                raise _broken(f"{self.name} has a malformed <{bad_name.decode()}> tag")
            if end_name == b"row":
                self.row_index += 1
                self.col_index = 0
            elif start_name == b"row":
                reference = self._r_attribute(attrs)
                if reference is not None:
                    self.row_index = self._parse(reference, need_column=False)[0] - 1
                if empty:
                    self.row_index += 1
                    self.col_index = 0
            elif start_name == b"c":
                reference = self._r_attribute(attrs)
                if reference is not None:
                    row, column = self._parse(reference, need_column=True)
                    self.col_index = column - 1
                else:
                    row, column = self.row_index + 1, self.col_index + 1
                    reference = f"{_column_letters(column)}{row}".encode()
                self.col_index += 1
                self._check_position(row, column, reference.decode("ascii", "replace"))

    def _r_attribute(self, attrs: bytes) -> bytes | None:
        values = [
            m[2] if m[2] is not None else m[3] for m in _ATTRIBUTE.finditer(attrs) if m[1] == b"r"
        ]
        if len(values) > 1:
            raise _broken(f"{self.name} has a tag with two r attributes")
        return values[0] if values else None

    def _parse(self, reference: bytes, *, need_column: bool) -> tuple[int, int]:
        match = _REFERENCE.fullmatch(reference)
        if not match or int(match[2]) == 0 or (need_column and not match[1]):
            raise _broken(f"{self.name} has a bad cell reference {reference[:20]!r}")
        return int(match[2]), _column_number(match[1])

    def _check_position(self, row: int, column: int, cell: str, verb: str = "reaches") -> None:
        limits = self.limits
        if row <= limits.max_rows + 1 and column <= limits.max_columns:
            return
        raise _fail(
            "sheet_too_large",
            f"The first sheet {verb} cell {cell} ({row:,} rows, {column:,} columns); at most "
            f"{limits.max_rows:,} rows of data under one header row and {limits.max_columns} "
            "columns are accepted. Delete the empty rows and columns after your data (or copy "
            "the data into a new workbook) and upload it again.",
            cell=cell,
            rows=row,
            columns=column,
            max_rows=limits.max_rows,
            max_columns=limits.max_columns,
        )


def _scan_sheet(fh: Any, info: zipfile.ZipInfo, limits: ReadLimits) -> None:
    for mode in (_FAST, _EXPLICIT, _SEQUENTIAL):
        scan = _SheetScan(limits, info.filename, mode)
        try:
            for chunk in _inflate(fh, info, limits):
                scan.feed(chunk)
            scan.close()
        except _SlowerScan:
            continue
        return


# --- reading ------------------------------------------------------------------------------------


def read_table(
    path: Path,
    *,
    schema: InputSchema | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> TableRead:
    """The guards, then the table: header matched to `schema` when one is given."""
    try:
        return _read_table(path, schema, limits)
    except TableError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # our storage's problem, not the customer's bytes
    except Exception as exc:  # last resort: the guards should leave nothing for here
        raise _broken(f"{type(exc).__name__}: {exc}") from exc
    except BaseException as exc:  # pyo3's PanicException is not an Exception
        if type(exc).__name__ != "PanicException":
            raise
        raise _broken(f"calamine panicked: {exc}") from exc


def _read_table(path: Path, schema: InputSchema | None, limits: ReadLimits) -> TableRead:
    file_format = check_file(path, limits)
    if file_format == XLSX:
        header, frame = _read_xlsx(path)
        rows = len(frame)
        encoding = delimiter = None
        decimal_comma = False
    else:
        parsed = _read_csv(path, limits)
        header, frame, rows = parsed.header, parsed.frame, parsed.rows
        encoding, delimiter, decimal_comma = parsed.encoding, parsed.delimiter, parsed.decimal_comma
    frame, extra = _shape(header, frame, schema, limits)
    _check_rows(rows, limits)
    return TableRead(
        frame=frame,
        extra_columns=extra,
        rows=rows,
        format=file_format,
        encoding=encoding,
        delimiter=delimiter,
        decimal_comma=decimal_comma,
    )


def _read_xlsx(path: Path) -> tuple[list[str | None], pd.DataFrame]:
    try:
        raw = pd.read_excel(path, engine="calamine", dtype=object, header=None)
    except Exception as exc:
        raise _broken(f"calamine: {exc}") from exc
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise _broken(f"calamine panicked: {exc}") from exc
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")  # pandas keeps empty leading rows
    raw.columns = range(raw.shape[1])
    frame = _clean_cells(raw)
    frame = frame[~frame.isna().all(axis=1)]
    if frame.empty:
        raise _empty_sheet()
    header = [_header_text(value) for value in frame.iloc[0].tolist()]
    return header, frame.iloc[1:]


def _empty_sheet() -> TableError:
    return _fail(
        "empty_file",
        "The file has no table: not even a header row. Put the column names in the first "
        "row and one row per prediction under it.",
    )


def _clean_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Strings stripped, empty strings and NaN made None; other values kept as read."""
    columns = {}
    for position, column in frame.items():
        kind = pd.api.types.infer_dtype(column, skipna=True)
        if kind in ("string", "mixed", "mixed-integer", "unknown-array"):
            columns[position] = _clean_values(column.to_numpy())
        elif column.hasnans:
            columns[position] = column.astype(object).where(column.notna(), None)
        else:
            columns[position] = column
    return pd.DataFrame(columns, index=frame.index, dtype=object)


def _clean_values(values: Any) -> list[Any]:
    # `value != value` is NaN (and NaT); a list comprehension is about 2x faster than .map.
    return [
        (value.strip() or None) if type(value) is str else (None if value != value else value)
        for value in values
    ]


def _header_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def _shape(
    header: list[str | None],
    frame: pd.DataFrame,
    schema: InputSchema | None,
    limits: ReadLimits,
) -> tuple[pd.DataFrame, list[str]]:
    """Names on the columns; blank-named empty columns dropped; the header checked and matched
    to the schema."""
    keep, names = [], []
    for position, name in enumerate(header):
        if name is None:
            if frame[position].notna().any():
                raise _fail(
                    "bad_header",
                    f"Column {position + 1} ({_column_letters(position + 1)}) has values but no "
                    "name in the header row. Give every column a name in the first row.",
                    column=position + 1,
                )
            continue
        keep.append(position)
        names.append(name)
    if not names:
        raise _empty_sheet()
    if len(names) > limits.max_columns:
        raise _too_many_columns(len(names), limits)
    seen: dict[str, str] = {}
    duplicates = []
    for name in names:
        key = normalise_header(name)
        if key in seen:
            duplicates.append(name if name == seen[key] else f"{seen[key]} / {name}")
        seen.setdefault(key, name)
    if duplicates:
        raise _fail(
            "bad_header",
            f"These column names appear more than once: {', '.join(duplicates)}. Give each "
            "column its own name.",
            duplicates=duplicates,
        )
    frame = frame[keep].set_axis(names, axis=1)
    if schema is None:
        return frame, []
    return _match_schema(frame, schema)


def _too_many_columns(count: int, limits: ReadLimits) -> TableError:
    return _fail(
        "too_many_columns",
        f"The file has {count:,} columns; at most {limits.max_columns} are accepted.",
        columns=count,
        limit=limits.max_columns,
    )


def _match_schema(frame: pd.DataFrame, schema: InputSchema) -> tuple[pd.DataFrame, list[str]]:
    wanted = {normalise_header(column.name): column.name for column in schema.columns}
    rename: dict[str, str] = {}
    extra = []
    for name in frame.columns:
        target = wanted.get(normalise_header(name))
        if target is None:
            extra.append(name)
        else:
            rename[name] = target
    found = set(rename.values())
    missing = [name for name in schema.required_names if name not in found]
    if missing:
        raise _fail(
            "missing_columns",
            f"The file has no column for: {', '.join(missing)}. The header row must name "
            f"these columns: {', '.join(schema.required_names)}.",
            columns=missing,
            found=list(frame.columns),
        )
    frame = frame[list(rename)].rename(columns=rename)
    for name in schema.names:
        if name not in found:
            frame[name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return frame[schema.names], extra


def _check_rows(rows: int, limits: ReadLimits) -> None:
    if rows == 0:
        raise _fail(
            "no_rows",
            "The file has a header row but no data under it. Add one row per prediction.",
        )
    if rows > limits.max_rows:
        raise _fail(
            "too_many_rows",
            f"The file has {rows:,} rows of data; at most {limits.max_rows:,} are accepted. "
            "Split it into several files.",
            rows=rows,
            limit=limits.max_rows,
        )


# --- CSV ----------------------------------------------------------------------------------------

_DELIMITERS = (",", ";", "\t", "|")
_THOUSANDS = "[ \u00a0\u202f]"
_COMMA_NUMBER = re.compile(rf"[+-]?(?:\d{{1,3}}(?:{_THOUSANDS}\d{{3}})+|\d+),\d+")
_SPACED_INTEGER = re.compile(rf"[+-]?\d{{1,3}}(?:{_THOUSANDS}\d{{3}})+")
_DOT_NUMBER = re.compile(r"[+-]?\d+\.\d+")
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z]")
_DECIMAL_SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class _ParsedCsv:
    header: list[str | None]
    frame: pd.DataFrame
    rows: int
    encoding: str
    delimiter: str
    decimal_comma: bool


def _read_csv(path: Path, limits: ReadLimits) -> _ParsedCsv:
    text, encoding = _decode(path.read_bytes())
    nul = text.find("\x00")
    if nul >= 0:
        raise _malformed(_line_of(text, nul), "it contains a NUL byte (binary data)")
    text, delimiter, skipped = _delimiter(text)
    header, rows, numbers, count = _parse_csv(text, delimiter, skipped, limits)
    frame = pd.DataFrame(
        rows,
        index=pd.Index(numbers, name="row", dtype="int64"),
        columns=range(len(header)),
        dtype=object,
    )
    decimal_comma = delimiter != "," and _uses_decimal_comma(frame)
    if decimal_comma:  # column by column: DataFrame.map would turn None into NaN
        frame = pd.DataFrame(
            {key: [_decimal_point(value) for value in column] for key, column in frame.items()},
            index=frame.index,
            dtype=object,
        )
    return _ParsedCsv(header, frame, count, encoding, delimiter, decimal_comma)


def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, then cp1251 if it reads as Russian."""
    boms = (
        (codecs.BOM_UTF32_LE, None),
        (codecs.BOM_UTF32_BE, None),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    )
    for bom, encoding in boms:
        if data.startswith(bom):
            if encoding is None:
                raise _unknown_encoding("UTF-32")
            try:
                return data[len(bom) :].decode(encoding.removesuffix("-sig")), encoding
            except UnicodeDecodeError as exc:
                raise _unknown_encoding(f"not valid {encoding}") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1251")
    except UnicodeDecodeError as exc:
        raise _unknown_encoding() from exc
    if not _plausible_cp1251(text):
        raise _unknown_encoding()
    return text, "cp1251"


def _plausible_cp1251(text: str) -> bool:
    """Latin-1 or another Western encoding read as cp1251 turns 'é' into 'й' inside Latin
    words; real Russian text rarely mixes the scripts inside a word."""
    words = [word for word in _LETTER_RUN.findall(text) if not word.isascii()]
    if not words:
        return True
    mixed = sum(1 for word in words if _CYRILLIC.search(word) and _LATIN.search(word))
    return mixed * 3 <= len(words)


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _line_of(text: str, position: int) -> int:
    return len(_NEWLINE.findall(text, 0, position)) + 1


def _malformed(line: int, problem: str) -> TableError:
    return _fail(
        "malformed_csv",
        f"The CSV file is broken at line {line}: {problem}. Check that line (quotes must be "
        "closed, and every row needs as many values as the header), or save the file again "
        "from Excel.",
        line=line,
        problem=problem,
    )


def _delimiter(text: str) -> tuple[str, str, int]:
    """The delimiter: Excel's "sep=;" line when present, else the candidate that appears most
    often (outside quotes) in the header line, ties broken by the rows under it. csv.Sniffer
    picks ',' for ';' files whose values contain commas, so it is not used."""
    lines = text[: 256 * 1024].splitlines()[:51]
    first = lines[0].strip() if lines else ""
    if first.lower().startswith("sep=") and len(first) == 5:
        rest = text.split("\n", 1)[1] if "\n" in text else ""
        return rest, first[4], 1
    content = [line for line in lines if line.strip()]
    if not content:
        return text, ",", 0
    counts = {d: _count_outside_quotes(content[0], d) for d in _DELIMITERS}
    best = max(counts.values())
    if best == 0:
        return text, ",", 0
    tied = [d for d in _DELIMITERS if counts[d] == best]
    if len(tied) > 1:
        body = content[1:]
        tied.sort(key=lambda d: -sum(_count_outside_quotes(line, d) == best for line in body))
    return text, tied[0], 0


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _parse_csv(
    text: str, delimiter: str, skipped: int, limits: ReadLimits
) -> tuple[list[str | None], list[list[str | None]], list[int], int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str | None] | None = None
    width = 0
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    count = 0
    line = 1
    try:
        for record in reader:
            cells = [cell.strip() or None for cell in record]
            start, line = line, reader.line_num + 1
            if not any(cells):
                continue
            if header is None:
                width = max(i for i, cell in enumerate(cells) if cell is not None) + 1
                if width > limits.max_columns:
                    raise _too_many_columns(width, limits)
                header = cells[:width]
                continue
            if (len(cells) > width and any(cells[width:])) or len(cells) < width:
                raise _malformed(start + skipped, _ragged(len(cells), width))
            count += 1
            if count <= limits.max_rows:
                rows.append(cells[:width])
                numbers.append(start + skipped)
    except csv.Error as exc:
        raise _malformed(line + skipped, _csv_problem(str(exc))) from exc
    if header is None:
        raise _empty_sheet()
    return header, rows, numbers, count


def _ragged(values: int, width: int) -> str:
    return f"it has {values} value{'s' * (values != 1)} but the header has {width} columns"


def _csv_problem(error: str) -> str:
    if "end of data" in error:
        return "a quoted value is never closed"
    if "expected after" in error:
        return (
            "a closing quote is followed by more text (quote the whole value and double any "
            'quote inside it: "5"" wheel")'
        )
    if "field limit" in error:
        return f"a value is longer than {csv.field_size_limit():,} characters"
    return error


def _uses_decimal_comma(frame: pd.DataFrame) -> bool:
    commas = dots = 0
    for row in frame.head(_DECIMAL_SAMPLE_ROWS).itertuples(index=False):
        for value in row:
            if value is None:
                continue
            if _COMMA_NUMBER.fullmatch(value):
                commas += 1
            elif _DOT_NUMBER.fullmatch(value):
                dots += 1
    return commas > dots


def _decimal_point(value: Any) -> Any:
    if not isinstance(value, str) or (not value[:1].isdigit() and value[:1] not in "+-"):
        return value
    if _COMMA_NUMBER.fullmatch(value) or _SPACED_INTEGER.fullmatch(value):
        return re.sub(_THOUSANDS, "", value).replace(",", ".")
    return value


__all__ = [
    "CSV",
    "DEFAULT_LIMITS",
    "XLSX",
    "ReadLimits",
    "TableRead",
    "check_file",
    "read_table",
    "sniff_format",
]
