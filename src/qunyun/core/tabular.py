"""Read CSV / XLSX tables as people export them, and write CSV that spreadsheets open safely.

CSV may be UTF-8 (with or without BOM), GBK / GB18030 (Excel on Chinese Windows) or UTF-16
with BOM; the encoding is detected. Headers are matched to canonical column names or their
aliases. Row numbers are the ones a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from qunyun.core.errors import InvalidInput

MAX_FIELD_BYTES = 64 * 1024 * 1024
"""A single CSV field longer than this stops the read; shorter overlong cells are row errors."""

_SAMPLE_BYTES = 1024 * 1024
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """A column a table may have: its canonical name, the aliases people write, its limits."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    max_length: int = 200
    label: str = ""

    @property
    def title(self) -> str:
        """Return ``name(label)`` for messages, e.g. ``rep_id(业务员编号)``."""
        return f"{self.name}({self.label})" if self.label else self.name


@dataclass
class Table:
    """An opened table: matched columns and an iterator over its data rows."""

    path: Path
    encoding: str
    columns: list[Column]
    present: list[Column]
    ignored_headers: list[str]
    rows: Iterator[tuple[int, list[str]]]
    size_bytes: int
    position: Callable[[], int] = field(default=lambda: 0)


def normalise_header(text: str) -> str:
    """Return a header cell reduced to what identifies it: no spaces, marks or case."""
    cleaned = text.replace("\ufeff", "").strip().strip("*＊").strip()
    return "".join(cleaned.split()).lower()


def _header_map(columns: Sequence[Column]) -> dict[str, Column]:
    mapping: dict[str, Column] = {}
    for column in columns:
        for name in (column.name, *column.aliases):
            mapping[normalise_header(name)] = column
    return mapping


def open_table(path: Path, columns: Sequence[Column]) -> Table:
    """Open ``path`` (.csv, .tsv, .txt or .xlsx) and match its header row to ``columns``.

    Raise InvalidInput when the file is missing, empty, not a table, in an unknown encoding,
    lacks a required column or names a column twice.
    """
    if not path.exists():
        raise InvalidInput(f"文件不存在：{path}")
    if path.is_dir():
        raise InvalidInput(f"这是一个文件夹，不是文件：{path}")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"文件为空：{path.name}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _open_xlsx(path, columns, size)
    if suffix == ".xls":
        raise InvalidInput("不支持旧版 Excel .xls 文件：请在 Excel 中另存为 .xlsx 或 CSV")
    return _open_csv(path, columns, size)


def _match_header(
    path: Path, header: list[str], columns: Sequence[Column]
) -> tuple[list[Column], list[int], list[str]]:
    by_header = _header_map(columns)
    present: list[Column] = []
    indexes: list[int] = []
    ignored: list[str] = []
    for index, cell in enumerate(header):
        column = by_header.get(normalise_header(cell))
        if column is None:
            if cell.strip():
                ignored.append(cell.strip())
            continue
        if column in present:
            raise InvalidInput(f"{path.name}：列 {column.title} 出现了两次（第 1 行）")
        present.append(column)
        indexes.append(index)
    missing = [column.title for column in columns if column.required and column not in present]
    if missing:
        found = "、".join(cell.strip() for cell in header if cell.strip()) or "（无）"
        raise InvalidInput(f"{path.name}：缺少必填列 {'、'.join(missing)}；表头为：{found}")
    return present, indexes, ignored


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise InvalidInput("这不是文本表格文件（含有二进制内容）：请上传 CSV 或 .xlsx")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise InvalidInput(
            "无法识别文件编码：支持 UTF-8、UTF-8 BOM、GBK/GB18030 和带 BOM 的 UTF-16"
        ) from None


class _CountingReader(io.RawIOBase):
    """A binary reader that remembers how many bytes were taken from it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += size or 0
        return size or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_csv(path: Path, columns: Sequence[Column], size: int) -> Table:
    with path.open("rb") as probe:
        head = probe.read(_SAMPLE_BYTES)
    if head.startswith(b"PK\x03\x04"):
        raise InvalidInput(f"{path.name} 实际是 Excel (.xlsx) 文件：请把扩展名改为 .xlsx")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidInput("不支持旧版 Excel .xls 文件：请在 Excel 中另存为 .xlsx 或 CSV")
    encoding = _detect_encoding(head)
    counter = _CountingReader(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding=encoding, newline="")
    first_line = text.readline()
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(_chain_first(first_line, text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        text.close()
        raise InvalidInput(f"文件为空：{path.name}") from None
    except (csv.Error, UnicodeDecodeError) as error:
        text.close()
        raise InvalidInput(f"{path.name} 第 1 行无法读取：{error}") from error
    if not any(cell.strip() for cell in header):
        text.close()
        raise InvalidInput(f"{path.name}：第 1 行应为表头，但它是空的")
    try:
        present, indexes, ignored = _match_header(path, header, columns)
    except InvalidInput:
        text.close()
        raise

    def rows() -> Iterator[tuple[int, list[str]]]:
        # Rows are numbered as a spreadsheet shows them (the header is row 1), so a cell with
        # a line break still counts as one row.
        width = len(indexes)
        pairs = list(enumerate(indexes))
        number = 1
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    raise InvalidInput(
                        f"{path.name} 第 {number + 1} 行无法解析：{error}"
                    ) from error
                except UnicodeDecodeError as error:
                    row = _row_of_bad_bytes(path, encoding)
                    raise InvalidInput(
                        f"{path.name} 第 {row} 行附近的字节不是 {encoding} 编码：文件里混用了多种编码"
                    ) from error
                number += 1
                if not cells or not any(cells):
                    continue
                values = [""] * width
                count = len(cells)
                for position, index in pairs:
                    if index < count:
                        values[position] = cells[index]
                yield number, values
        finally:
            text.close()

    return Table(
        path, encoding, list(columns), present, ignored, rows(), size, lambda: counter.count
    )


def _row_of_bad_bytes(path: Path, encoding: str) -> int:
    """Return the spreadsheet row holding the first bytes that ``encoding`` cannot decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    decoded: list[str] = []
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            pending = decoder.getstate()[0]
            try:
                decoded.append(decoder.decode(block))
            except UnicodeDecodeError as error:
                # error.start counts from the bytes the decoder still held from the last block
                good = (pending + block)[: error.start]
                decoded.append(codecs.decode(good, encoding, errors="ignore"))
                break
    # Count the records before the bad bytes; the unfinished one holding them counts too.
    return sum(1 for _ in csv.reader(io.StringIO("".join(decoded) + "x", newline="")))


def _chain_first(first: str, rest: IO[str]) -> Iterator[str]:
    yield first
    yield from rest


def cell_text(value: object) -> str:
    """Return a spreadsheet cell value as the text a person sees."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _open_xlsx(path: Path, columns: Sequence[Column], size: int) -> Table:
    from zipfile import BadZipFile

    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (BadZipFile, KeyError, OSError, ValueError) as error:
        raise InvalidInput(f"无法读取 Excel 文件 {path.name}：{error}") from error
    sheet = workbook.worksheets[0]
    raw_rows = sheet.iter_rows(values_only=True)
    header: list[str] | None = None
    header_row = 0
    for number, raw in enumerate(raw_rows, start=1):
        cells = [cell_text(value) for value in raw]
        if any(cell.strip() for cell in cells):
            header, header_row = cells, number
            break
    if header is None:
        workbook.close()
        raise InvalidInput(f"文件为空：{path.name}")
    try:
        present, indexes, ignored = _match_header(path, header, columns)
    except InvalidInput:
        workbook.close()
        raise
    done = [0]
    total_rows = sheet.max_row or 0

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, raw in enumerate(raw_rows, start=header_row + 1):
                done[0] = number
                count = len(raw)
                values = [cell_text(raw[index]) if index < count else "" for index in indexes]
                if any(values):
                    yield number, values
        finally:
            workbook.close()

    def position() -> int:
        return int(size * done[0] / total_rows) if total_rows else 0

    return Table(path, "xlsx", list(columns), present, ignored, rows(), size, position)


def spreadsheet_safe(value: object) -> str:
    """Return ``value`` as text a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *, for_excel: bool = False
) -> int:
    """Write a UTF-8 CSV with formula-like cells escaped; return the number of data rows.

    ``for_excel`` adds a BOM so that Excel on Chinese Windows reads the file as UTF-8; leave it
    off for files other programs read by their exact header.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig" if for_excel else "utf-8", newline="") as handle:
        return _write_rows(handle, header, rows)


def csv_bytes(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, for_excel: bool = False
) -> bytes:
    """Return the bytes ``write_csv`` writes to a file, for a download."""
    buffer = io.StringIO(newline="")
    _write_rows(buffer, header, rows)
    return buffer.getvalue().encode("utf-8-sig" if for_excel else "utf-8")


def _write_rows(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write the header and rows as CSV with formula-like cells escaped; return the rows."""
    writer = csv.writer(handle)
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    count = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        count += 1
    return count
