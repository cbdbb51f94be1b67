"""Check a batch of raw event records column by column, and say what is wrong with each bad row.

Checks run over whole Arrow columns; only rows that fail are visited one by one, to word
their reasons. Unknown members and groups are fine: people join groups before anyone enters
them in the master data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from qunyun.events.schema import (
    CODED,
    CODED_FIELDS,
    EARLIEST_MS,
    EVENT_KINDS,
    INCOMING_SCHEMA,
    INTEGER_FIELDS,
    JOIN_SCENES,
    KIND_FIELDS,
    LATEST_MS,
    MAX_ID_LENGTH,
    MEMBER_KINDS,
    MESSAGE_TYPES,
    TEXT_FIELDS,
    TIMESTAMP,
)

_CHUNK = 4096
_MAX_SHOWN = 40


@dataclass
class CheckedBatch:
    """The good rows of a batch (``INCOMING_SCHEMA``) and ``(position, reason)`` of the bad."""

    valid: pa.Table
    rejected: list[tuple[int, str]]


def check_event_batch(raw: pa.Table, first_seq: int, zone: str) -> CheckedBatch:
    """Validate ``raw`` (columns named as the event fields, any types).

    ``first_seq`` numbers the rows in arrival order across batches; ``zone`` gives the local
    calendar day each event belongs to. Missing columns count as empty.
    """
    rows = raw.num_rows
    problems: list[tuple[np.ndarray, Callable[[int], str]]] = []
    text = {name: _text_column(raw, name, rows, coded=name in CODED_FIELDS) for name in TEXT_FIELDS}
    event_id = text["event_id"]

    for name in ("event_id", "member_id"):
        problems.append((_is_null(text[name]), _fixed(f"{name}：不能为空")))
    for name in TEXT_FIELDS:
        problems.append((_too_long(text[name]), _fixed(f"{name}：超过 {MAX_ID_LENGTH} 个字符")))

    kind_code, bad_kind = _choice(text, "kind", EVENT_KINDS, required=True)
    problems.append(bad_kind)
    problems.append(_choice(text, "member_kind", MEMBER_KINDS, required=True)[1])
    problems.append(_choice(text, "msg_type", MESSAGE_TYPES, required=False)[1])
    problems.append(_choice(text, "scene", JOIN_SCENES, required=False)[1])
    problems.append(_choice(text, "inviter_kind", MEMBER_KINDS, required=False)[1])
    for kind, needed in KIND_FIELDS.items():
        of_kind = kind_code == EVENT_KINDS.index(kind)
        for name in needed:
            problems.append((of_kind & _is_null(text[name]), _fixed(f"{name}：{kind} 事件必须有")))

    integers = {}
    for name in INTEGER_FIELDS:
        values, bad = _integer_column(raw, name, rows)
        integers[name] = values
        problems.append((bad, _fixed(f"{name}：应为非负整数")))

    ts, bad_ts = _time_column(raw, rows)
    shown = _cell_text(raw, "ts")
    problems.append(
        (
            bad_ts,
            lambda row: (
                "ts：不能为空"
                if shown(row) == ""
                else f"ts：无法解析的时间 {shown(row)!r}（应为带时区的 ISO 8601，或 epoch 毫秒）"
            ),
        )
    )
    in_range = pc.and_(
        pc.greater_equal(ts, pa.scalar(EARLIEST_MS, TIMESTAMP)),
        pc.less(ts, pa.scalar(LATEST_MS, TIMESTAMP)),
    )
    problems.append(
        (
            ~_mask(pc.fill_null(in_range, True)),
            lambda row: f"ts：时间 {shown(row)!r} 不在 2000–2099 年之间（秒当成了毫秒？）",
        )
    )

    bad = np.zeros(rows, dtype=bool)
    for mask, _ in problems:
        bad |= mask
    rejected = [
        (int(row), "；".join(describe(int(row)) for mask, describe in problems if mask[row]))
        for row in np.flatnonzero(bad)
    ]
    good = pa.array(~bad)
    day = pc.cast(pc.local_timestamp(ts.cast(pa.timestamp("ms", tz=zone))), pa.date32())
    columns: dict[str, pa.Array] = {
        "seq": pa.array(np.arange(first_seq, first_seq + rows, dtype=np.int64)),
        "event_id": event_id,
        "ts": ts,
        "day": day,
        **{name: text[name] for name in TEXT_FIELDS[1:]},
        **integers,
    }
    table = pa.Table.from_pydict(columns, schema=INCOMING_SCHEMA)
    return CheckedBatch(table.filter(good) if rejected else table, rejected)


def _fixed(reason: str) -> Callable[[int], str]:
    return lambda row: reason


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def _is_null(values: pa.Array) -> np.ndarray:
    """Return where ``values`` are null, from the validity bitmap (no Arrow kernel)."""
    if not values.null_count:
        return np.zeros(len(values), dtype=bool)
    validity = values.buffers()[0]
    if validity is None:  # a null type, or a union
        return _mask(pc.is_null(values))
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    nulls: np.ndarray = bits[values.offset : values.offset + len(values)] == 0
    return nulls


def _column(raw: pa.Table, name: str) -> pa.Array | None:
    if name not in raw.column_names:
        return None
    column = raw.column(name)
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _text_column(raw: pa.Table, name: str, rows: int, *, coded: bool = False) -> pa.Array:
    """Return ``name`` as trimmed strings, empty cells as null (``coded``: as a dictionary).

    Most columns hold nothing to trim: whether a value might is read from its first and last
    byte (NumPy over the offsets), and only then is the column trimmed. Nulls are set only
    where a cell is empty. A dictionary column (a Parquet file's repeating values) whose
    distinct values are trimmed, filled and unique is kept as it is.
    """
    column = _column(raw, name)
    if column is None:
        return pa.nulls(rows, CODED if coded else pa.string())
    if pa.types.is_dictionary(column.type):
        if coded and _clean_dictionary(column):
            return column.cast(CODED)
        column = column.cast(pa.string())
    elif not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    starts, ends, data = _string_bytes(column)
    if _may_trim(starts, ends, data):
        column = pc.utf8_trim_whitespace(column)
        starts, ends, _ = _string_bytes(column)
    empty = ends == starts
    if empty.any() and (empty := empty & ~_is_null(column)).any():
        column = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), column)
    return pc.dictionary_encode(column) if coded else column


def _clean_dictionary(column: pa.DictionaryArray) -> bool:
    """Return whether a dictionary column's values are text, trimmed, filled and unique."""
    values = column.dictionary
    if not pa.types.is_string(values.type) or values.null_count:
        return False
    starts, ends, data = _string_bytes(values)
    if not (ends > starts).all() or _may_trim(starts, ends, data):
        return False
    return bool(pc.count_distinct(values).as_py() == len(values))


_UNTRIMMED = np.zeros(256, dtype=bool)
"""First or last bytes of a value that trimming might remove: ASCII controls and space, and
any byte of a multi-byte character (Unicode spaces); a value without them is trimmed already."""
_UNTRIMMED[:0x21] = True
_UNTRIMMED[0x7F:] = True


def _may_trim(starts: np.ndarray, ends: np.ndarray, data: np.ndarray) -> bool:
    """Return whether a value may start or end with what trimming removes.

    An empty value reads its neighbour's byte instead (clipped at the data's ends), which
    can only answer yes in vain.
    """
    return bool(
        _UNTRIMMED[np.take(data, starts, mode="clip")].any()
        or _UNTRIMMED[np.take(data, ends - 1, mode="clip")].any()
    )


def _string_bytes(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return where each value of a ``string`` array starts and ends in its data, and the data."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[
        column.offset : column.offset + len(column) + 1
    ]
    data = column.buffers()[2]
    return offsets[:-1], offsets[1:], np.frombuffer(data or b"\0", dtype=np.uint8)


def _by_value(
    column: pa.Array, compute: Callable[[pa.Array], np.ndarray], null: object
) -> np.ndarray:
    """Return ``compute`` of each value of a text column: of a dictionary's distinct values once.

    ``compute`` takes a ``string`` array; ``null`` is the result where a cell is null.
    """
    if not pa.types.is_dictionary(column.type):
        return compute(column)
    of_values = compute(column.dictionary)
    if not len(of_values):
        return np.full(len(column), null)
    result = of_values[np.asarray(column.indices.fill_null(0).to_numpy(), dtype=np.int64)]
    if column.null_count:
        result[_is_null(column)] = null
    return result


def _too_long(column: pa.Array) -> np.ndarray:
    """Return where a value has more than ``MAX_ID_LENGTH`` characters.

    Characters are counted only in values of more bytes than that (a character is one byte
    or more).
    """
    if column.null_count == len(column):
        return np.zeros(len(column), dtype=bool)
    return _by_value(column, _too_long_values, False)


def _too_long_values(column: pa.Array) -> np.ndarray:
    starts, ends, _ = _string_bytes(column)
    long = np.flatnonzero((ends - starts > MAX_ID_LENGTH) & ~_is_null(column))
    too_long = np.zeros(len(column), dtype=bool)
    if len(long):
        characters = pc.utf8_length(column.take(pa.array(long)))
        too_long[long] = _mask(pc.greater(characters, MAX_ID_LENGTH))
    return too_long


def _cell_text(raw: pa.Table, name: str) -> Callable[[int], str]:
    column = _column(raw, name)

    def shown(row: int) -> str:
        if column is None or not column[row].is_valid:
            return ""
        value = str(column[row].as_py()).strip()
        return value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "…"

    return shown


def _choice(
    text: dict[str, pa.Array], name: str, allowed: tuple[str, ...], *, required: bool
) -> tuple[np.ndarray, tuple[np.ndarray, Callable[[int], str]]]:
    """Return the position of each value in ``allowed`` (-1: another or none) and the problem."""
    column = text[name]
    choices = pa.array(allowed)
    code = _by_value(
        column,
        lambda values: np.asarray(
            pc.fill_null(pc.index_in(values, value_set=choices), -1).to_numpy(), dtype=np.int64
        ),
        -1,
    )
    known = code >= 0
    bad = ~known if required else ~known & ~_is_null(column)

    def describe(row: int) -> str:
        value = column[row].as_py()
        if value is None:
            return f"{name}：不能为空"
        shown = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "…"
        return f"{name}：未知的值 {shown!r}（可选：{'、'.join(allowed)}）"

    return code, (bad, describe)


def _integer_column(raw: pa.Table, name: str, rows: int) -> tuple[pa.Array, np.ndarray]:
    """Return ``name`` as int64 (empty as null) and the mask of cells that are not one."""
    column = _column(raw, name)
    if column is None:
        return pa.nulls(rows, pa.int64()), np.zeros(rows, dtype=bool)
    if pa.types.is_integer(column.type):
        values = column.cast(pa.int64())
    else:
        cells = _text_column(raw, name, rows)
        digits = pc.match_substring_regex(cells, r"^[0-9]{1,18}$")
        digits = pc.fill_null(digits, False)
        values = pc.if_else(digits, cells, pa.scalar(None, pa.string())).cast(pa.int64())
        unparsed = _mask(pc.invert(digits)) & ~_is_null(cells)
        return values, unparsed
    negative = _mask(pc.fill_null(pc.less(values, 0), False))
    return pc.if_else(negative, pa.scalar(None, pa.int64()), values), negative


def _time_column(raw: pa.Table, rows: int) -> tuple[pa.Array, np.ndarray]:
    """Return ``ts`` as UTC milliseconds and the mask of cells that are not a usable time."""
    column = _column(raw, "ts")
    if column is None:
        return pa.nulls(rows, TIMESTAMP), np.ones(rows, dtype=bool)
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:  # a naive time names no instant
            return pa.nulls(rows, TIMESTAMP), np.ones(rows, dtype=bool)
        values = column.cast(TIMESTAMP)
        return values, _is_null(values)
    if pa.types.is_integer(column.type):
        values = column.cast(pa.int64()).cast(TIMESTAMP)
        return values, _is_null(values)
    cells = _text_column(raw, "ts", rows)
    epoch = pc.fill_null(pc.match_substring_regex(cells, r"^[0-9]{1,15}$"), False)
    from_epoch = pc.if_else(epoch, cells, pa.scalar(None, pa.string())).cast(pa.int64())
    iso_cells = pc.if_else(epoch, pa.scalar(None, pa.string()), cells)
    from_iso = _parse_iso(iso_cells)
    values = pc.coalesce(from_epoch.cast(TIMESTAMP), from_iso)
    return values, _is_null(values)


def _parse_iso(cells: pa.Array) -> pa.Array:
    """Return ISO 8601 times with an offset as UTC timestamps; null where one does not parse."""
    whole = _cast_time(cells)
    if whole is not None:
        return whole
    pieces = []
    for start in range(0, len(cells), _CHUNK):
        chunk = cells.slice(start, _CHUNK)
        parsed = _cast_time(chunk)
        if parsed is None:
            parsed = pa.array(
                [_one_time(value) for value in chunk.to_pylist()], type=pa.int64()
            ).cast(TIMESTAMP)
        pieces.append(parsed)
    return pa.concat_arrays(pieces) if pieces else pa.nulls(0, TIMESTAMP)


def _cast_time(cells: pa.Array) -> pa.Array | None:
    try:
        return cells.cast(TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _one_time(value: str | None) -> int | None:
    if value is None:
        return None
    parsed = _cast_time(pa.array([value], pa.string()))
    return None if parsed is None else parsed.cast(pa.int64())[0].as_py()
