"""Read event files (JSON Lines, CSV, Parquet) as batches of raw records.

Every record keeps the number a person finds it by: the line of a JSON Lines file, the row of
a CSV file as a spreadsheet shows it (the header is row 1), the row of a Parquet file from 1.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from qunyun.core.errors import InvalidInput
from qunyun.events.schema import CODED_FIELDS, FIELDS, REQUIRED_FIELDS

BATCH_ROWS = 500_000
"""Records validated together; bounds memory whatever the file size."""


@dataclass
class RawBatch:
    """Records of a file as columns, the row number of each, and lines that hold no record."""

    table: pa.Table
    rows: list[int] | range
    unreadable: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class EventFile:
    """An opened event file: its format, ignored columns and an iterator of batches."""

    path: Path
    format: str
    ignored: list[str]
    batches: Iterator[RawBatch]
    size: int
    position: Callable[[], int]


def records_table(records: Iterable[Any]) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Return in-memory records (mappings) as a table of text columns.

    Entries that are not mappings come back as ``(index, reason)`` and as empty rows, so that
    positions in the table stay the positions in ``records``.
    """
    columns: dict[str, list[str | None]] = {name: [] for name in FIELDS}
    unreadable = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            unreadable.append((index, '不是一个 JSON 对象（应为 {"event_id": …}）'))
            record = {}
        for name, values in columns.items():
            values.append(_cell(record.get(name)))
    return pa.table(
        {name: pa.array(values, pa.string()) for name, values in columns.items()}
    ), unreadable


def _cell(value: Any) -> str | None:
    """Return a JSON value as the text a CSV would hold (``1.7e12`` epoch floats as integers)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def open_event_file(path: Path, batch_rows: int = BATCH_ROWS) -> EventFile:
    """Open ``path`` by its extension: .jsonl / .ndjson / .json, .csv / .tsv / .txt, .parquet.

    Raise InvalidInput when the file is missing, of another kind, or lacks a required column.
    """
    if not path.exists():
        raise InvalidInput(f"文件不存在：{path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _open_jsonl(path, batch_rows)
    if suffix in (".csv", ".tsv", ".txt"):
        return _open_csv(path, batch_rows)
    if suffix in (".parquet", ".pq"):
        return _open_parquet(path, batch_rows)
    raise InvalidInput(
        f"不支持的事件文件类型 {path.suffix or '（无扩展名）'}：请用 .jsonl、.csv 或 .parquet"
    )


def _check_columns(path: Path, names: list[str]) -> list[str]:
    """Return the ignored column names; raise InvalidInput when a required one is missing."""
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        raise InvalidInput(
            f"{path.name} 缺少必需的列：{'、'.join(missing)}（表头应为字段名，如 event_id,ts,kind,…）"
        )
    return [name for name in names if name not in FIELDS]


def _open_jsonl(path: Path, batch_rows: int) -> EventFile:
    size = path.stat().st_size
    handle = path.open("rb")
    ignored: dict[str, None] = {}

    def batches() -> Iterator[RawBatch]:
        try:
            records: list[Any] = []
            rows: list[int] = []
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record: Any = json.loads(line)
                except (ValueError, UnicodeDecodeError) as error:
                    record = f"不是合法的 JSON：{error}"
                if isinstance(record, dict):
                    for name in record:
                        if name not in FIELDS:
                            ignored.setdefault(name)
                records.append(record)
                rows.append(number)
                if len(records) >= batch_rows:
                    yield _jsonl_batch(records, rows)
                    records, rows = [], []
            if records:
                yield _jsonl_batch(records, rows)
        finally:
            handle.close()

    return EventFile(path, "JSON Lines", list(ignored), batches(), size, handle.tell)


def _jsonl_batch(records: list[Any], rows: list[int]) -> RawBatch:
    table, unreadable = records_table(records)
    reasons = [
        (index, records[index] if isinstance(records[index], str) else reason)
        for index, reason in unreadable
    ]
    return RawBatch(table, rows, reasons)


class _CountingReader(io.RawIOBase):
    """A binary reader that remembers how many bytes were taken from it."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self.raw.readinto(buffer)
        self.count += size or 0
        return size or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_csv(path: Path, batch_rows: int) -> EventFile:
    """Open a CSV of events; rows are numbered as a spreadsheet shows them (header = 1).

    Python's csv module reads it (a cell may hold a line break); a row with more or fewer
    cells than the header is rejected with its number, not the whole file.
    """
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"文件为空：{path.name}")
    with path.open("rb") as probe:
        sample = probe.read(1 << 20)
    encoding = "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not only a character cut at the sample's end
            encoding = "gb18030"
    counter = _CountingReader(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding=encoding, newline="")
    try:
        first = text.readline()
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        header = [name.strip().lower() for name in next(csv.reader([first], delimiter=delimiter))]
    except (csv.Error, UnicodeDecodeError, StopIteration) as error:
        text.close()
        raise InvalidInput(f"{path.name} 第 1 行不是 CSV 表头：{error}") from error
    if len(set(header)) != len(header):
        text.close()
        raise InvalidInput(f"{path.name}：表头有重复的列")
    try:
        ignored = _check_columns(path, header)
    except InvalidInput:
        text.close()
        raise
    wanted = [(index, name) for index, name in enumerate(header) if name in FIELDS]
    width = len(header)
    reader = csv.reader(text, delimiter=delimiter)

    def batches() -> Iterator[RawBatch]:
        number = 1
        records: list[list[str]] = []
        rows: list[int] = []
        unreadable: list[tuple[int, str]] = []
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    raise InvalidInput(
                        f"{path.name} 第 {number + 1} 行无法解析：{error}"
                    ) from error
                except UnicodeDecodeError as error:
                    raise InvalidInput(
                        f"{path.name} 第 {number + 1} 行附近的字节不是 {encoding} 编码"
                    ) from error
                number += 1
                if not any(cells):
                    continue
                if len(cells) != width:
                    unreadable.append(
                        (len(records), f"列数不对：表头 {width} 列，此行 {len(cells)} 列")
                    )
                    cells = [""] * width
                records.append(cells)
                rows.append(number)
                if len(records) >= batch_rows:
                    yield _csv_batch(records, rows, unreadable, wanted)
                    records, rows, unreadable = [], [], []
            if records:
                yield _csv_batch(records, rows, unreadable, wanted)
        finally:
            text.close()

    label = "utf-8" if encoding == "utf-8-sig" else encoding
    return EventFile(path, f"CSV（{label}）", ignored, batches(), size, lambda: counter.count)


def _csv_batch(
    records: list[list[str]],
    rows: list[int],
    unreadable: list[tuple[int, str]],
    wanted: list[tuple[int, str]],
) -> RawBatch:
    columns = list(zip(*records, strict=True))
    table = pa.table({name: pa.array(columns[index], pa.string()) for index, name in wanted})
    return RawBatch(table, rows, unreadable)


def _open_parquet(path: Path, batch_rows: int) -> EventFile:
    size = path.stat().st_size
    try:
        parquet = pq.ParquetFile(path)
        # repeating text as dictionaries: the file holds them so, and every distinct value is
        # then checked once (reading them as strings alone took half the read)
        coded = [
            column.name
            for column in parquet.schema_arrow
            if column.name in CODED_FIELDS and pa.types.is_string(column.type)
        ]
        if coded:
            parquet = pq.ParquetFile(path, read_dictionary=coded)
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidInput(f"无法读取 Parquet 文件 {path.name}：{error}") from error
    names = list(parquet.schema_arrow.names)
    ignored = _check_columns(path, names)
    total = parquet.metadata.num_rows or 1
    done = [0]

    def batches() -> Iterator[RawBatch]:
        try:
            for batch in parquet.iter_batches(
                batch_size=batch_rows, columns=[name for name in names if name in FIELDS]
            ):
                start = done[0]
                done[0] += batch.num_rows
                yield RawBatch(pa.Table.from_batches([batch]), range(start + 1, done[0] + 1))
        finally:
            parquet.close()

    return EventFile(path, "Parquet", ignored, batches(), size, lambda: int(size * done[0] / total))
