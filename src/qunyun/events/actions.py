"""Writes of the events package: ingest batches of events into the lake, compact it.

``do_ingest_events`` takes records in memory (the REST endpoint and connector callbacks call
it); ``do_import_events`` streams a file through the same path. Both validate, drop events
whose ``event_id`` the tenant already has (in the lake or earlier in the batch: the first one
stays), give new members and groups dense integer keys, and publish the new files at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qunyun.core.errors import QunyunError
from qunyun.core.tabular import write_csv
from qunyun.events.health import group_health_figures, store_group_health
from qunyun.events.id_index import IdIndex, day_name, day_numbers, distinct_days
from qunyun.events.keys import KeyDictionary
from qunyun.events.lake import (
    COMPACT_FILES,
    LakeWriter,
    id_hashes,
    read_parquet_sql,
    sql_path,
)
from qunyun.events.lake import tenant_lake as tenant_lake  # re-exported: callers open lakes by it
from qunyun.events.readers import open_event_file, records_table
from qunyun.events.recent import customer_pairs, recent_window, update_recent_customers
from qunyun.events.schema import FIELDS, KIND_COUNTS, LAKE_COLUMNS
from qunyun.events.sorted_arrays import first_of_runs, is_sorted
from qunyun.events.validation import check_event_batch
from qunyun.org.models import Tenant

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``: ``read`` (bytes), then ``write`` (steps)."""

ROLLUP_THREADS = 2
"""Days whose rollups are computed at the same time (the machines have 2 cores)."""

ROLLUP_COMPRESSION = "snappy"
"""Rollups are rewritten whole by every import of their day: Snappy (or LZ4, measured the
same) writes them with 40% less CPU than zstd, and every Parquet reader (Spark too) has it."""

ROLLUP_STATISTICS = ["day"]
"""Columns of the rollups written with min/max statistics: the day, by which readers skip
files. Statistics of every column took a third of the member-daily write (46 ms of CPU for a
day of 10^8 events' 380k rows, 30 ms without), and no reader filters by a count."""

SCREEN_ERRORS = 50
"""How many rejected rows a command shows; the rejects file holds them all."""


@dataclass
class IngestResult:
    """What one ingestion did: new events, repeats of known ids, and rejected records.

    ``rejected`` holds ``(position, reason)``: the index in the records given, or for a file
    its row (line) number.
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    new_members: int = 0
    new_groups: int = 0


@dataclass
class EventImportReport(IngestResult):
    """An ingestion from a file, with what a person needs to find the bad rows."""

    file: Path = Path()
    format: str = ""
    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    rejects_path: Path | None = None


class EventsRejected(QunyunError):
    """Records were invalid and nothing was written; ``result`` lists them."""

    def __init__(self, message: str, result: IngestResult) -> None:
        super().__init__(message)
        self.result = result


def do_ingest_events(
    tenant: Tenant,
    records: Iterable[Any] | pa.Table,
    *,
    skip_invalid: bool = True,
    root: Path | None = None,
) -> IngestResult:
    """Add events given in memory (mappings of the event fields, or an Arrow table).

    Invalid records are reported by index; with ``skip_invalid`` off any of them stops the
    whole batch. Raise EventsRejected when that happens (nothing is written), Conflict when
    another process is writing the tenant's lake.
    """
    if isinstance(records, pa.Table):
        table, unreadable = records, list[tuple[int, str]]()
    else:
        table, unreadable = records_table(records)
    result = IngestResult()
    with tenant_lake(tenant, root).writing() as writer:
        ingestion = _Ingestion(writer, tenant.timezone)
        checked = ingestion.add(table)
        rejected = _merge(unreadable, checked)
        result.rejected = rejected
        if rejected and not skip_invalid:
            raise EventsRejected(
                f"{len(rejected)} 条事件无效，未写入任何事件（共 {table.num_rows} 条）", result
            )
        ingestion.finish(result)
    return result


def do_import_events(
    tenant: Tenant,
    path: Path,
    *,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    root: Path | None = None,
) -> EventImportReport:
    """Import an event file (JSON Lines, CSV or Parquet) into the tenant's lake, all or nothing.

    Bad rows are reported with their row number and written to ``rejects_path`` with an
    ``errors`` column. Raise EventsRejected when there are bad rows and ``skip_invalid`` is
    off (nothing is written), InvalidInput when the file cannot be read as events.
    """
    opened = open_event_file(path)
    report = EventImportReport(file=path, format=opened.format, ignored_columns=opened.ignored)
    bad_rows: list[list[str]] = []
    with tenant_lake(tenant, root).writing() as writer:
        ingestion = _Ingestion(writer, tenant.timezone, stage=True)
        for batch in opened.batches:
            checked = ingestion.add(batch.table)
            for position, reason in _merge(batch.unreadable, checked):
                row = batch.rows[position]
                report.rejected.append((row, reason))
                bad_rows.append([str(row), *_cells(batch.table, position), reason])
            report.rows += batch.table.num_rows
            if progress is not None:
                progress("read", opened.position(), opened.size)
        if report.rejected:
            if rejects_path is not None:
                write_csv(rejects_path, ("row", *FIELDS, "errors"), bad_rows, for_excel=True)
                report.rejects_path = rejects_path
            if not skip_invalid:
                raise EventsRejected(
                    f"{path.name}：{len(report.rejected):,} 行有错误，未写入任何事件"
                    f"（共 {report.rows:,} 行）",
                    report,
                )
        ingestion.finish(report, progress)
    return report


def do_compact_events(tenant: Tenant, *, root: Path | None = None) -> int:
    """Merge every day, the id index and the dictionaries into one file each; return files removed.

    Days without their rollups (a lake written before rollups existed) get them.
    """
    with tenant_lake(tenant, root).writing() as writer:
        removed = _compact(writer, min_files=2)
        index = IdIndex(writer, lambda day: [])
        index.write(merge_all=True)
        removed += max(index.retired_files - 1, 0)
        manifest = writer.manifest
        missing = sorted(
            day
            for day in manifest.events
            if day not in manifest.member_daily or day not in manifest.group_daily
        )
        _refresh_rollups(writer, missing)
        if removed or missing:
            writer.commit()
    return removed


def do_rebuild_rollups(
    tenant: Tenant, *, root: Path | None = None, days: list[str] | None = None
) -> int:
    """Recompute the rollups of every day (or of ``days``) from the events; return the days.

    Needed only when the rollup's definition changes; imports keep the rollups current.
    """
    with tenant_lake(tenant, root).writing() as writer:
        known = writer.manifest.events
        days = sorted(known if days is None else (day for day in days if day in known))
        _refresh_rollups(writer, days)
        if days:
            writer.commit()
    return len(days)


def _refresh_rollups(
    writer: LakeWriter,
    days: list[str],
    computed: dict[str, tuple[pa.Table, pa.Table]] | None = None,
) -> None:
    """Recompute the member-daily and group-daily rollups of ``days`` from their events.

    A day's rollups are replaced whole, so re-running a day gives the same content. Each day
    is computed on its own from its event files: the dense keys make it counting rather than
    a search (the day's (group, member) pairs numbered — runs of a file in pair order, else a
    hash — then counts per pair and per group by position), so the cost follows the day's
    events, not the lake.
    """
    manifest = writer.manifest
    days = [day for day in days if manifest.events.get(day)]
    if not days:
        return
    folder = writer.scratch("member_daily")
    group_folder = writer.scratch("group_daily")

    pairs: dict[str, np.ndarray] = {}
    window = set(recent_window(manifest))

    def write(table: pa.Table, target: Path, day: str) -> None:
        (target / f"day={day}").mkdir()
        pq.write_table(
            table,
            str(target / f"day={day}" / "part.parquet"),
            compression=ROLLUP_COMPRESSION,
            use_dictionary=False,
            write_statistics=ROLLUP_STATISTICS,
        )

    def refresh(day: str) -> pa.Table:
        if computed and day in computed:
            member_daily, group_daily = computed[day]
        else:
            member_daily, group_daily = day_rollups(day, writer.lake.event_files(manifest, [day]))
        if day in window:
            pairs[day] = customer_pairs(member_daily)
        write(group_daily, group_folder, day)
        return member_daily

    # the days are independent, and NumPy and Arrow release the GIL for their heavy parts
    with ThreadPoolExecutor(ROLLUP_THREADS) as pool:
        if len(days) == 1:
            # one day (an import): its member daily is written on the other core while the
            # window's rollups are updated on this one
            writing = [pool.submit(write, refresh(days[0]), folder, days[0])]
        else:
            writing = [
                pool.submit(lambda day: write(refresh(day), folder, day), day) for day in days
            ]
            for future in writing:
                future.result()
        old_daily = {}
        for day in days:
            # the replaced group daily stays on disk until the commit: health moves by the change
            old_daily[day] = writer.lake.paths(manifest.group_daily.get(day, []))
            writer.retire(manifest.group_daily.pop(day, []))
        for day, name in writer.publish(group_folder, "group_daily"):
            manifest.group_daily.setdefault(day, []).append(name)
        previous_health = dict(manifest.group_health)
        # the recent customers (a search of the day's pairs among millions) on a worker, health here
        recent = pool.submit(update_recent_customers, writer, pairs)
        figures = group_health_figures(writer, old_daily, previous_health)
        senders = recent.result()
        if figures is not None and senders is not None:
            store_group_health(writer, figures, senders, previous_health)
        for future in writing:
            future.result()
    for day in days:
        writer.retire(manifest.member_daily.pop(day, []))
    for day, name in writer.publish(folder, "member_daily"):
        manifest.member_daily.setdefault(day, []).append(name)


_KIND_CODES = {kind: code for code, kind in enumerate(KIND_COUNTS)}
_ROLLUP_READ = ["group_key", "member_key", "kind", "member_kind"]
MEMBER_DAILY_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("group_key", pa.int32()),
        ("member_key", pa.int32()),
        ("is_staff", pa.bool_()),
        *((column, pa.int32()) for column in KIND_COUNTS.values()),
    ]
)
"""The member-daily rollup: one row per local day, group (null: outside groups) and member."""

GROUP_DAILY_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("group_key", pa.int32()),
        *(
            (column, pa.int64())
            for column in (
                "messages",
                "active_members",
                "staff_messages",
                "customer_messages",
                "joins",
                "leaves",
            )
        ),
    ]
)
"""Group daily by group key: one row per local day and group with at least one event."""


def day_rollups(day: str, files: list[Path]) -> tuple[pa.Table, pa.Table]:
    """Return the member-daily and group-daily rollups of one local day from its event files.

    Member daily counts each kind of event per (group, member) pair, ``is_staff`` when the
    member's kind is staff (a member key stands for one (member_kind, member_id), so it is
    constant per key). Group daily sums the pairs with a group: messages, senders (pairs
    with a message), staff and customer messages, joins, leaves.
    """
    read = [
        pq.read_table(
            str(path),
            columns=_ROLLUP_READ,
            read_dictionary=["kind", "member_kind"],
            partitioning=None,
        )
        for path in files
    ]
    return _rollups(day, read)


def _rollups(day: str, read: list[pa.Table]) -> tuple[pa.Table, pa.Table]:
    """Return ``day_rollups`` of the day's events given as tables (``_ROLLUP_READ`` columns)."""
    column = {
        name: pa.chunked_array([chunk for table in read for chunk in table.column(name).chunks])
        for name in _ROLLUP_READ
    }
    position, keys = _runs(pair_keys(column["group_key"], column["member_key"]))
    count = len(keys)
    kind = _codes(column["kind"], _KIND_CODES)
    staff = _codes(column["member_kind"], {"staff": 1}).astype(bool)
    kinds = len(KIND_COUNTS)
    # one row per kind the day has (a day lacks most kinds of the nine): each count column is
    # contiguous (a column of a row per pair was a strided copy per kind)
    present = np.flatnonzero(np.bincount(kind, minlength=kinds))
    row = np.full(kinds, -1, dtype=np.int64)
    row[present] = np.arange(len(present))
    slots = row[kind] if len(present) < kinds else kind.astype(np.int64)
    slots *= count
    slots += position
    counted = np.bincount(slots, minlength=len(present) * count).reshape(len(present), count)
    del slots
    none = np.zeros(count, dtype=np.int32)
    counts = [
        counted[row[code]].astype(np.int32) if row[code] >= 0 else none for code in range(kinds)
    ]
    is_staff = np.zeros(count, dtype=bool)
    is_staff[position] = staff
    pair_group = (keys >> 32).astype(np.int32)
    stamp = np.datetime64(day, "D")
    columns: list[pa.Array] = [
        pa.array(np.full(count, stamp)).cast(pa.date32()),
        pa.array(pair_group, mask=pair_group < 0),
        pa.array((keys & 0xFFFFFFFF).astype(np.int32)),
        pa.array(is_staff),
        *(pa.array(counts[code]) for code in range(kinds)),
    ]
    member_daily = pa.Table.from_arrays(columns, schema=MEMBER_DAILY_SCHEMA)
    inside = pair_group >= 0
    grouped = pair_group[inside]
    size = int(grouped.max()) + 1 if len(grouped) else 0
    messages = counts[_KIND_CODES["message"]][inside]

    def per_group(values: np.ndarray) -> np.ndarray:
        return np.bincount(grouped, weights=values, minlength=size).astype(np.int64)

    present = np.flatnonzero(np.bincount(grouped, minlength=size))
    sums = [
        per_group(messages),
        per_group(messages > 0),
        per_group(np.where(is_staff[inside], messages, 0)),
        per_group(np.where(is_staff[inside], 0, messages)),
        per_group(counts[_KIND_CODES["join"]][inside]),
        per_group(counts[_KIND_CODES["leave"]][inside]),
    ]
    group_daily = pa.Table.from_arrays(
        [
            pa.array(np.full(len(present), stamp)).cast(pa.date32()),
            pa.array(present.astype(np.int32)),
            *(pa.array(values[present]) for values in sums),
        ],
        schema=GROUP_DAILY_SCHEMA,
    )
    return member_daily, group_daily


def pair_keys(group_key: pa.ChunkedArray, member_key: pa.ChunkedArray) -> np.ndarray:
    """Return each event's ``group_key << 32 | member_key`` (outside groups the group is -1)."""
    group = np.asarray(group_key.fill_null(-1).to_numpy(), dtype=np.int64)
    member = np.asarray(member_key.to_numpy(), dtype=np.int64)
    return (group << 32) | member


def _runs(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each event's pair number and the distinct pairs (by number).

    Event files are written in pair order (``_pair_order``), so the pairs of a day read
    from one file are runs, numbered in one pass; other input (several files of a day) is
    hashed.
    """
    if is_sorted(pairs):
        first = first_of_runs(pairs)
        return np.cumsum(first) - 1, pairs[first]
    encoded = pc.dictionary_encode(pa.array(pairs))
    return encoded.indices.to_numpy(), encoded.dictionary.to_numpy()


def _codes(column: pa.ChunkedArray, codes: dict[str, int]) -> np.ndarray:
    """Return the code of each value of a dictionary-read text column (0 when not in ``codes``)."""
    parts = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        mapping = np.array(
            [codes.get(value, 0) for value in chunk.dictionary.to_pylist()], dtype=np.int32
        )
        parts.append(mapping[chunk.indices.to_numpy()] if len(mapping) else np.zeros(0, np.int32))
    return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.zeros(0, np.int32)


def _merge(
    unreadable: list[tuple[int, str]], checked: list[tuple[int, str]]
) -> list[tuple[int, str]]:
    """Return the rejections of a batch by position; an unreadable record has one reason only."""
    reasons = dict(checked)
    reasons.update(unreadable)
    return sorted(reasons.items())


def _cells(table: pa.Table, position: int) -> list[str]:
    record = table.slice(position, 1).to_pylist()[0]
    return ["" if record.get(name) is None else str(record[name]) for name in FIELDS]


CHUNK_ROWS = 2_000_000
"""Events deduplicated, keyed and written at a time; a larger import is staged on disk."""

EVENT_COMPRESSION_LEVEL = 1
"""zstd level of event files. Measured on a day of 111k events: level 1 with dictionaries
only where values repeat wrote in 59 ms of CPU instead of 111 ms (the default level,
dictionaries on every column), into a smaller file (1.3 MB, not 1.6), read back as fast."""

EVENT_DICTIONARY_COLUMNS = [
    "day",
    "kind",
    "group_key",
    "group_id",
    "member_kind",
    "member_id",
    "msg_type",
    "scene",
    "inviter_kind",
]
"""Columns whose values repeat within a day; ids that are (nearly) unique per event are
written plain, because a dictionary of them is built only to be abandoned. ``member_id``
comes from the key lookup as an Arrow dictionary and is written from its codes."""

EVENT_DICTIONARY_PAGE_BYTES = 1 << 26
"""Largest dictionary page of an event file. Parquet's default (1 MiB) is below a day's
member ids at 10^8 (90k ids), and a column whose dictionary outgrows it is re-encoded as
plain strings: the member ids' codes would be expanded again."""

EVENT_ENCODINGS = {"ts": "DELTA_BINARY_PACKED"}
"""Encodings of event files other than plain and dictionary: the times as deltas (a day of
1.1 M times at 10^8 written in 28 ms of CPU instead of 55, into a smaller file; every
Parquet reader, Spark's since 3.3, reads them)."""

EVENT_STATISTICS = ["ts", "day", "kind", "group_key", "member_key", "member_kind"]
"""Columns of event files written with min/max statistics: time, day, kind and the keys,
by which a reader may skip row groups. Statistics of the text ids (min/max of 1.1 M event
ids) were a quarter of an event file's write at 10^8 and no reader filters by an id."""

WRITE_STEPS = (
    "deduplicate, key",
    "dictionaries",
    "id index",
    "new days' rollups, compact",
    "rollups (and the event files being written)",
    "publish",
)
"""The steps of an import's ``write`` phase, in order (``progress("write", done, total)``)."""


class _Ingestion:
    """Validated batches collected in order, then deduplicated and written in one go.

    Batches stay in memory up to ``CHUNK_ROWS`` events; with ``stage`` (file imports) more
    than that go to staging files, so that a file of any size imports in bounded memory.
    """

    def __init__(self, writer: LakeWriter, zone: str, *, stage: bool = False) -> None:
        self.writer = writer
        self.zone = zone
        self.stage = stage
        self.seq = 0
        self.tables: list[pa.Table] = []
        self.held = 0
        self.staged: list[Path] = []

    def add(self, raw: pa.Table) -> list[tuple[int, str]]:
        """Validate ``raw`` and keep its good rows; return ``(position, reason)`` of the bad."""
        checked = check_event_batch(raw, self.seq, self.zone)
        self.seq += raw.num_rows
        if checked.valid.num_rows:
            self.tables.append(checked.valid)
            self.held += checked.valid.num_rows
            if self.stage and self.held > CHUNK_ROWS:
                self._spill()
        return checked.rejected

    def _spill(self) -> None:
        # staged as Arrow IPC, uncompressed: written at memory speed and mapped back, where a
        # Parquet file (lz4) cost 1.1 s to write and 0.7 s to read per 500k events
        folder = self.writer.scratch("incoming")
        for table in self.tables:
            target = folder / f"batch-{len(self.staged):06d}.arrow"
            with pa.ipc.new_file(target, table.schema) as staged:
                staged.write_table(table)
            self.staged.append(target)
        self.tables, self.held = [], 0

    def _chunks(self) -> Iterator[pa.Table]:
        """Yield the valid events in arrival order, at most about ``CHUNK_ROWS`` at a time."""
        pending: list[pa.Table] = []
        rows = 0
        tables = itertools.chain(map(_read_staged, self.staged), self.tables)
        for table in tables:
            if pending and rows + table.num_rows > CHUNK_ROWS:
                yield pa.concat_tables(pending)
                pending, rows = [], 0
            pending.append(table)
            rows += table.num_rows
        if pending:
            yield pa.concat_tables(pending)

    def finish(self, result: IngestResult, progress: Progress | None = None) -> None:
        """Deduplicate, key and write the collected events, compact and publish."""

        def step(done: int) -> None:
            if progress is not None:
                progress("write", done, len(WRITE_STEPS))

        if not self.staged and not self.tables:
            return
        writer = self.writer
        manifest = writer.manifest
        step(0)
        placed: dict[str, list[str]] = {}  # the event files this import writes, by day
        being_written: dict[str, list[Future[None]]] = {}

        def written_files(day: str) -> list[Path]:
            # a repeated id is confirmed against the day's files: those not yet written first
            for future in being_written.get(day, []):
                future.result()
            return writer.lake.paths(placed.get(day, []))

        index = IdIndex(writer, written_files)
        members = KeyDictionary(writer, "members")
        groups = KeyDictionary(writer, "groups")
        incoming = 0
        # days the lake did not have: their rollups are computed from the events in memory
        new_days: dict[str, list[tuple[pa.Table, Future[np.ndarray]]]] = {}
        with ThreadPoolExecutor(1) as files:
            # event files are sorted and compressed on the other core while the import goes on
            writing: list[Future[None]] = []
            for chunk in self._chunks():
                incoming += chunk.num_rows
                survivors, days = self._new_events(chunk, index)
                if not survivors.num_rows:
                    continue
                result.accepted += survivors.num_rows
                keyed = _keyed(survivors, members, groups)
                # the last chunk's files were written while this one was keyed; one chunk in
                # writing at a time keeps at most two chunks in memory
                for future in writing:
                    future.result()
                for part_day, part in _split_by_day(keyed, days):
                    day = day_name(part_day)
                    path, name = writer.place("events", f"day={day}", ".parquet")
                    order = files.submit(_pair_order, part)
                    written = files.submit(_write_day, part, order, path)
                    writing.append(written)
                    being_written.setdefault(day, []).append(written)
                    if day not in manifest.events:
                        # only the columns the rollups count stay in memory
                        new_days.setdefault(day, []).append((part.select(_ROLLUP_READ), order))
                    placed.setdefault(day, []).append(name)
            result.duplicates = incoming - result.accepted
            if result.accepted == 0:
                for future in writing:
                    future.result()
                return
            step(1)
            result.new_members = members.write()
            result.new_groups = groups.write()
            step(2)
            index.write()
            step(3)
            # a new day's rollups count its events in pair order, whose pairs are runs
            computed = {
                day: _rollups(day, [part.take(order.result()) for part, order in parts])
                for day, parts in new_days.items()
            }
            new_days.clear()
            for day, names in placed.items():
                manifest.events.setdefault(day, []).extend(names)
            manifest.event_count += result.accepted
            result.days = sorted(placed)
            reads_files = any(
                day not in computed or len(manifest.events[day]) >= COMPACT_FILES
                for day in result.days
            )
            if reads_files:
                # a day the lake had is refreshed, or compacted, from its files
                for future in writing:
                    future.result()
                _compact(writer, min_files=COMPACT_FILES, days=result.days)
            step(4)
            # new days only: refreshed from memory while their files are still being written
            _refresh_rollups(writer, result.days, computed)
            for future in writing:
                future.result()
        step(5)
        writer.commit()
        step(6)

    def _new_events(self, chunk: pa.Table, index: IdIndex) -> tuple[pa.Table, np.ndarray]:
        """Return the events of ``chunk`` whose id is new (first of the batch), and their days.

        The survivors' ids join the index for the chunks after this one.
        """
        ids = chunk.column("event_id").combine_chunks()
        # the events keep the combined ids: keying and writing them combines no strings again
        chunk = chunk.set_column(chunk.schema.get_field_index("event_id"), "event_id", ids)
        hashes = id_hashes(ids)
        days = day_numbers(chunk.column("day"))
        ordered = np.sort(hashes)
        if (
            len(distinct_days(days)) == 1
            and not (len(ordered) > 1 and bool(np.any(ordered[1:] == ordered[:-1])))
            and not len(index.candidates(ordered)[0])
        ):
            # the usual batch: one day, ids new to the batch and the lake; no rows to pick,
            # so its hashes are sorted without their order
            index.add(ordered, np.full(len(ordered), days[0]))
            return chunk, days
        order = np.argsort(hashes)
        ordered = hashes[order]
        if len(ordered) > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
            # the batch repeats an id (or two ids share a hash): keep each id's first row
            first = np.zeros(len(ids), dtype=bool)
            first[np.unique(pc.dictionary_encode(ids).indices.to_numpy(), return_index=True)[1]] = (
                True
            )
            order = order[first[order]]
            ordered = hashes[order]
        new = ~index.stored(ids, ordered, order)
        if not new.all():
            order, ordered = order[new], ordered[new]
        index.add(ordered, days[order])
        if len(order) == len(ids):
            return chunk, days
        rows = np.sort(order)
        return chunk.take(pa.array(rows)), days[rows]


def _read_staged(path: Path) -> pa.Table:
    """Return a batch staged by ``_Ingestion._spill`` (mapped, not copied)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def _keyed(survivors: pa.Table, members: KeyDictionary, groups: KeyDictionary) -> pa.Table:
    """Return new events as the lake stores them (``LAKE_COLUMNS``, with dense keys)."""

    def key_column(keys: np.ndarray) -> pa.Array:
        return pa.array(keys.astype(np.int32), mask=keys < 0)

    column = {name: survivors.column(name).combine_chunks() for name in survivors.column_names}
    member_keys, member_ids = members.coded_keys(column["member_id"], column["member_kind"])
    column["member_key"] = key_column(member_keys)
    if member_ids is not None:
        # the member ids repeat (90k members in a day of 1.1 M events at 10^8): the file
        # takes and writes their codes, not 1.1 M strings
        column["member_id"] = member_ids
    column["inviter_key"] = key_column(members.keys(column["inviter_id"], column["inviter_kind"]))
    column["group_key"] = key_column(groups.keys(column["group_id"]))
    return pa.table({name: column[name] for name in LAKE_COLUMNS})


def _split_by_day(events: pa.Table, days: np.ndarray) -> list[tuple[int, pa.Table]]:
    """Return ``events`` split by local day (day numbers ``days``), in order of day."""
    distinct = distinct_days(days)
    if len(distinct) == 1:
        return [(int(distinct[0]), events)]
    order = np.argsort(days, kind="stable")
    bounds = np.searchsorted(days[order], distinct)
    ends = [*bounds[1:].tolist(), len(order)]
    return [
        (int(day), events.take(pa.array(order[start:end])))
        for day, start, end in zip(distinct.tolist(), bounds.tolist(), ends, strict=True)
    ]


def _pair_order(events: pa.Table) -> np.ndarray:
    """Return the order of one day's ``events`` by group key (outside groups first), member key.

    Event files are written in this pair order: a refresh of the day's rollups then finds its
    (group, member) pairs as runs instead of hashing them. When the pair and the row number
    fit in 64 bits together (group and member keys below 2^21 each with 2^21 rows), one
    ``np.sort`` of that word gives the order; else an ``argsort`` of the pairs.
    """
    pairs = pair_keys(events.column("group_key"), events.column("member_key"))
    if not len(pairs):
        return np.zeros(0, dtype=np.int64)
    group = (pairs >> 32) + 1  # outside groups: 0
    member = pairs & 0xFFFFFFFF
    row_bits = max(int(len(pairs) - 1).bit_length(), 1)
    member_bits = max(int(member.max()).bit_length(), 1)
    group_bits = max(int(group.max()).bit_length(), 1)
    if row_bits + member_bits + group_bits > 63:
        return np.argsort(pairs, kind="stable")
    word = (group << (member_bits + row_bits)) | (member << row_bits)
    word |= np.arange(len(pairs), dtype=np.int64)
    word.sort()
    word &= (1 << row_bits) - 1
    return word


def _write_day(events: pa.Table, order: Future[np.ndarray], path: Path) -> None:
    """Write one day's ``events`` in pair order (``order``) as the event file ``path``.

    A column of nulls only (fields of kinds the day lacks) is not taken.
    """
    rows = order.result()
    indices = pa.array(rows)
    columns = [
        pa.nulls(len(rows), column.type)
        if column.null_count == len(column)
        else column.take(indices)
        for column in events.columns
    ]
    pq.write_table(
        pa.Table.from_arrays(columns, schema=events.schema),
        str(path),
        compression="zstd",
        compression_level=EVENT_COMPRESSION_LEVEL,
        use_dictionary=EVENT_DICTIONARY_COLUMNS,
        dictionary_pagesize_limit=EVENT_DICTIONARY_PAGE_BYTES,
        write_statistics=EVENT_STATISTICS,
        column_encoding=EVENT_ENCODINGS,
    )


def _compact(writer: LakeWriter, *, min_files: int, days: list[str] | None = None) -> int:
    """Merge days with at least ``min_files`` files, and dictionaries; return files removed."""
    manifest = writer.manifest
    removed = 0
    for day in sorted(days if days is not None else manifest.events):
        files = manifest.events.get(day, [])
        if len(files) < min_files:
            continue
        folder = writer.scratch(f"compact-events-{day}") / f"day={day}"
        folder.mkdir(parents=True)
        writer.connection.execute(
            f"""
            COPY (SELECT * FROM {read_parquet_sql(writer.lake.paths(files))} ORDER BY group_key NULLS FIRST, member_key, ts)
            TO {sql_path(folder / "part.parquet")} (FORMAT parquet, COMPRESSION zstd)
            """
        )
        writer.retire(files)
        manifest.events[day] = [name for _, name in writer.publish(folder.parent, "events")]
        removed += len(files) - 1
    for name in ("members", "groups"):
        files = getattr(manifest, name)
        if len(files) < min_files:
            continue
        folder = writer.scratch(f"compact-{name}")
        key = "member_key" if name == "members" else "group_key"
        writer.connection.execute(
            f"""
            COPY (SELECT * FROM {read_parquet_sql(writer.lake.paths(files))} ORDER BY {key})
            TO {sql_path(folder / "part.parquet")} (FORMAT parquet, COMPRESSION zstd)
            """
        )
        writer.retire(list(files))
        setattr(manifest, name, [relative for _, relative in writer.publish(folder, name)])
        removed += len(files) - 1
    return removed
