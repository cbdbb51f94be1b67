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
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from qunyun.core.errors import InvalidInput
from qunyun.events.schema import FIELDS, REQUIRED_FIELDS

BATCH_ROWS = 500_000
"""Records validated together; bounds memory whatever the file size."""

_BLOCK_BYTES = 32 << 20


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
            value = record.get(name)
            values.append(
                None if value is None else value if isinstance(value, str) else str(value)
            )
    return pa.table(
        {name: pa.array(values, pa.string()) for name, values in columns.items()}
    ), unreadable


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
                    record = f"第 {number} 行不是合法的 JSON：{error}"
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
    size = path.stat().st_size
    with path.open("rb") as probe:
        sample = probe.read(1 << 20)
    encoding = "utf-8"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not only a character cut at the sample's end
            encoding = "gb18030"
    first = sample.split(b"\n", 1)[0].decode(encoding, errors="replace").lstrip("\ufeff")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = [name.strip().lower() for name in next(csv.reader([first], delimiter=delimiter))]
    if len(set(header)) != len(header):
        raise InvalidInput(f"{path.name}：表头有重复的列")
    ignored = _check_columns(path, header)
    counter = _CountingReader(path.open("rb"))
    try:
        reader = pa_csv.open_csv(
            counter,
            read_options=pa_csv.ReadOptions(
                column_names=header, skip_rows=1, block_size=_BLOCK_BYTES, encoding=encoding
            ),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                include_columns=[name for name in header if name in FIELDS],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        counter.close()
        raise InvalidInput(f"{path.name} 无法按 CSV 读取：{error}") from error

    def batches() -> Iterator[RawBatch]:
        done = 0
        try:
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as error:
                    raise InvalidInput(
                        f"{path.name} 第 {done + pending_rows + 2} 行附近无法解析：{error}"
                    ) from error
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= batch_rows:
                    yield RawBatch(
                        pa.Table.from_batches(pending), range(done + 2, done + 2 + pending_rows)
                    )
                    done += pending_rows
                    pending, pending_rows = [], 0
            if pending:
                yield RawBatch(
                    pa.Table.from_batches(pending), range(done + 2, done + 2 + pending_rows)
                )
        finally:
            counter.close()

    return EventFile(path, f"CSV（{encoding}）", ignored, batches(), size, lambda: counter.count)


def _open_parquet(path: Path, batch_rows: int) -> EventFile:
    size = path.stat().st_size
    try:
        parquet = pq.ParquetFile(path)
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
