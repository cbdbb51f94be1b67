"""Dense integer keys of members and groups: the lake's dictionaries and the keys an import adds.

A member is its (member_kind, member_id), a group its group_id. The dictionary files
(``members/``, ``groups/``: Parquet, key → value) are what readers join; an import finds keys
in the dictionary's **key index** instead (``key_index/part-….arrow``, manifest
``key_index``): runs of the dictionary's entries sorted by a 64-bit hash of (kind, value),
each with its key, kind and value, uncompressed Arrow IPC files that are memory-mapped. The batch's
distinct values are hashed and searched in it, and a hash found is confirmed against the
entry's value and kind, so the cost follows the batch, not the dictionary (an import used
to read every dictionary file — 87 of them after 87 imports — and probe all 2 M members).
Values not found get the next keys in order of first appearance and are written as one more
dictionary file and one more index run, merged with the newest runs of similar size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qunyun.events.lake import LakeWriter, id_hashes


@dataclass(frozen=True)
class _Spec:
    key: str
    kind: str | None
    value: str
    count: str


_SPECS = {
    "members": _Spec("member_key", "member_kind", "member_id", "member_count"),
    "groups": _Spec("group_key", None, "group_id", "group_count"),
}


@dataclass
class _Entries:
    """Dictionary entries: values, their keys and kind codes (into ``KeyDictionary.kind_names``)."""

    values: pa.Array
    keys: np.ndarray
    kinds: np.ndarray


class KeyDictionary:
    """One dictionary of the lake (``members`` or ``groups``) while a writer holds it.

    Kinds are held as small codes (``kind_names``), so that the batch's distinct values and
    kinds make one array of (value position * kinds + kind code) slots.
    """

    def __init__(self, writer: LakeWriter, name: str) -> None:
        self.writer = writer
        self.name = name
        self.spec = _SPECS[name]
        manifest = writer.manifest
        self.next_key: int = getattr(manifest, self.spec.count)
        self.kind_names: list[str | None] = [] if self.spec.kind else [None]
        self.added: list[_Entries] = []
        self.runs: list[_Run] = [
            self._read_run(writer.lake.folder / run["file"])
            for run in manifest.key_index.get(name, [])
        ]
        self.pending: _Run | None = None  # a run to publish without new keys (an upgrade)
        if not self.runs and getattr(manifest, name):
            self.pending = self._index_files()
            self.runs = [self.pending]

    def _read_run(self, path: Path) -> _Run:
        # the arrays stay views of the mapping: only the pages a search touches are read
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        kinds = table.column("kind").combine_chunks() if self.spec.kind else None
        return _Run(
            np.asarray(table.column("hash").to_numpy()),
            _Entries(
                table.column("value").combine_chunks(),
                np.asarray(table.column("key").to_numpy(), dtype=np.int64),
                self._kind_codes(kinds, table.num_rows),
            ),
        )

    def _index_files(self) -> _Run:
        """Return the index of a lake written before it, from the dictionary files."""
        tables = [
            pq.read_table(
                str(path),
                partitioning=None,
                read_dictionary=[self.spec.kind] if self.spec.kind else None,
            )
            for path in self.writer.lake.paths(getattr(self.writer.manifest, self.name))
        ]
        table = pa.concat_tables(tables)
        kinds = table.column(self.spec.kind) if self.spec.kind else None
        return self._sorted_run(
            _Entries(
                table.column(self.spec.value).combine_chunks(),
                np.asarray(table.column(self.spec.key).to_numpy(), dtype=np.int64),
                self._kind_codes(kinds, table.num_rows),
            )
        )

    def _sorted_run(self, entries: _Entries) -> _Run:
        hashes = self._hashes(entries.values, entries.kinds)
        order = np.argsort(hashes, kind="stable")
        return _Run(hashes[order], _take(entries, order))

    def _kind_codes(self, kinds: pa.Array | pa.ChunkedArray | None, rows: int) -> np.ndarray:
        """Return the code of each kind (registering kinds not seen yet)."""
        if kinds is None:
            return np.zeros(rows, dtype=np.int64)
        chunks = kinds.chunks if isinstance(kinds, pa.ChunkedArray) else [kinds]
        parts = [np.zeros(0, dtype=np.int64)]
        for chunk in chunks:
            encoded = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
            mapping = []
            for kind in encoded.dictionary.to_pylist():
                if kind not in self.kind_names:
                    self.kind_names.append(kind)
                mapping.append(self.kind_names.index(kind))
            codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            parts.append(np.array(mapping, dtype=np.int64)[codes] if mapping else codes)
        return np.concatenate(parts)

    def _hashes(self, values: pa.Array, kinds: np.ndarray) -> np.ndarray:
        """Return the index hash of each (kind, value): the id hash of the value and the kind's."""
        hashes = id_hashes(values)
        if self.spec.kind is not None and len(hashes):
            names = [name or "" for name in self.kind_names]
            of_kind = id_hashes(pa.array(names, pa.string()))
            hashes ^= of_kind[kinds]
        return hashes

    def keys(self, values: pa.Array, kinds: pa.Array | None = None) -> np.ndarray:
        """Return the key of each value (of each (kind, value)); -1 where one of them is null.

        Values not in the dictionary get the next keys, kept for the rest of the import and
        written by ``write``.
        """
        return self.coded_keys(values, kinds)[0]

    def coded_keys(
        self, values: pa.Array, kinds: pa.Array | None = None
    ) -> tuple[np.ndarray, pa.Array | None]:
        """Return ``keys`` and, when no value is null, the values as an Arrow dictionary.

        The dictionary array is the hash of the batch's values that the lookup makes anyway:
        an event file writes a repeating column from its codes instead of its strings.
        """
        result = np.full(len(values), -1, dtype=np.int64)
        present = ~_mask(pc.is_null(values))
        if kinds is not None:
            present &= ~_mask(pc.is_null(kinds))
        rows = np.flatnonzero(present)
        if not len(rows):
            return result, None
        whole = len(rows) == len(values)
        if not whole:
            values = values.take(pa.array(rows))
            kinds = None if kinds is None else kinds.take(pa.array(rows))
        encoded = pc.dictionary_encode(values)
        distinct = encoded.dictionary
        kind_code = self._kind_codes(kinds, len(rows))
        width = len(self.kind_names)
        pair = np.asarray(encoded.indices.to_numpy(), dtype=np.int64) * width + kind_code
        found = np.full(len(distinct) * width, -1, dtype=np.int64)
        wanted = np.zeros(len(found), dtype=bool)
        wanted[pair] = True
        asked = np.flatnonzero(wanted)
        found[asked] = self._stored_keys(distinct.take(pa.array(asked // width)), asked % width)
        for entries in self.added:
            # this import's new entries (few): probed by value like the batch's distinct values
            at = np.asarray(
                pc.fill_null(pc.index_in(entries.values, value_set=distinct), -1).to_numpy()
            )
            hit = at >= 0
            found[at[hit] * width + entries.kinds[hit]] = entries.keys[hit]
        missing = np.flatnonzero(wanted & (found < 0))
        if len(missing):
            new = np.arange(self.next_key, self.next_key + len(missing), dtype=np.int64)
            self.next_key += len(missing)
            found[missing] = new
            self.added.append(
                _Entries(distinct.take(pa.array(missing // width)), new, missing % width)
            )
        result[rows] = found[pair]
        return result, encoded if whole else None

    def _stored_keys(self, values: pa.Array, kinds: np.ndarray) -> np.ndarray:
        """Return the stored key of each distinct (kind code, value), -1 where there is none."""
        keys = np.full(len(values), -1, dtype=np.int64)
        runs = [run for run in self.runs if len(run.hashes)]
        if not len(values) or not runs:
            return keys
        hashes = self._hashes(values, kinds)
        for run in runs:
            wanted = np.flatnonzero(keys < 0)
            at = np.searchsorted(run.hashes, hashes[wanted])
            # entries of equal hash are adjacent: each round looks one entry further
            while len(wanted):
                inside = at < len(run.hashes)
                wanted, at = wanted[inside], at[inside]
                same = run.hashes[at] == hashes[wanted]
                wanted, at = wanted[same], at[same]
                if not len(wanted):
                    break
                entries = run.entries
                match = (entries.kinds[at] == kinds[wanted]) & _mask(
                    pc.equal(entries.values.take(pa.array(at)), values.take(pa.array(wanted)))
                )
                keys[wanted[match]] = entries.keys[at[match]]
                wanted, at = wanted[~match], at[~match] + 1
        return keys

    def write(self) -> int:
        """Stage the keys given by this import as one more dictionary file; return how many.

        Their index run is merged into the newest stored runs while it is at least half as
        large (``MERGE_RATIO``, as the id index does), so a dictionary of n entries keeps a
        few runs per doubling and an import rewrites no more than its own keys on most days.
        """
        manifest = self.writer.manifest
        runs = manifest.key_index.setdefault(self.name, [])
        if not self.added:
            if self.pending is not None:
                self._publish(self.pending)
            return 0
        added = _concat(self.added)
        columns: dict[str, pa.Array] = {self.spec.key: pa.array(added.keys.astype(np.int32))}
        if self.spec.kind is not None:
            columns[self.spec.kind] = pa.array(self.kind_names, pa.string()).take(
                pa.array(added.kinds)
            )
        columns[self.spec.value] = added.values
        folder = self.writer.scratch(f"dictionary-{self.name}")
        pq.write_table(pa.table(columns), str(folder / "part.parquet"), compression="zstd")
        for _, relative in self.writer.publish(folder, self.name):
            getattr(manifest, self.name).append(relative)
        setattr(manifest, self.spec.count, self.next_key)
        self.added = []
        run = self._sorted_run(added)
        if self.pending is not None:
            # an upgraded lake: its whole index is new
            run = _merged(self.pending, run)
            self.pending = None
        else:
            while runs and len(run.hashes) * MERGE_RATIO >= runs[-1]["count"]:
                # only writers read the index: a run merged away needs no time in .retired
                self.writer.drop([runs.pop()["file"]])
                run = _merged(self.runs.pop(), run)
        self._publish(run)
        return len(added.keys)

    def _publish(self, run: _Run) -> None:
        names = pa.array([name or "" for name in self.kind_names], pa.string())
        table = pa.table(
            {
                "hash": pa.array(run.hashes),
                "key": pa.array(run.entries.keys.astype(np.int32)),
                "kind": pa.DictionaryArray.from_arrays(
                    pa.array(run.entries.kinds.astype(np.int32)), names
                ),
                "value": run.entries.values,
            }
        )
        folder = self.writer.scratch(f"key-index-{self.name}")
        with (
            pa.OSFile(str(folder / "run.arrow"), "wb") as sink,
            pa.ipc.new_file(sink, table.schema) as ipc,
        ):
            ipc.write_table(table)
        ((_, name),) = self.writer.publish(folder, "key_index")
        self.writer.manifest.key_index[self.name].append({"file": name, "count": len(run.hashes)})
        self.pending = None


MERGE_RATIO = 2
"""A new index run is merged into the newest stored run while ``new * MERGE_RATIO >= stored``."""


@dataclass
class _Run:
    """Entries of a dictionary sorted by their index hash."""

    hashes: np.ndarray
    entries: _Entries


def _merged(older: _Run, newer: _Run) -> _Run:
    """Return one run of the entries of two runs, in hash order (a linear merge)."""
    stored = len(older.hashes)
    at = np.searchsorted(older.hashes, newer.hashes, "right") + np.arange(len(newer.hashes))
    source = np.empty(stored + len(newer.hashes), dtype=np.int64)
    placed = np.zeros(len(source), dtype=bool)
    placed[at] = True
    source[~placed] = np.arange(stored)
    source[at] = np.arange(stored, len(source))
    return _Run(
        np.concatenate([older.hashes, newer.hashes])[source],
        _take(_concat([older.entries, newer.entries]), source),
    )


def _take(entries: _Entries, order: np.ndarray) -> _Entries:
    return _Entries(entries.values.take(pa.array(order)), entries.keys[order], entries.kinds[order])


def _concat(parts: list[_Entries]) -> _Entries:
    return _Entries(
        pa.concat_arrays([part.values.cast(pa.string()) for part in parts]),
        np.concatenate([part.keys for part in parts]),
        np.concatenate([part.kinds for part in parts]),
    )


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return a boolean column as a NumPy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)
