"""Dense integer keys of members and groups: the lake's dictionaries and the keys an import adds.

A member is its (member_kind, member_id), a group its group_id. An import looks the distinct
values of a batch up in the stored dictionary (a hash of the batch's values, probed by the
dictionary's), gives the values not found the next keys in order of first appearance, and
writes them as one more dictionary file: the cost follows the batch and one pass over the
dictionary, never the events of the lake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qunyun.events.lake import LakeWriter


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


class KeyDictionary:
    """One dictionary of the lake (``members`` or ``groups``) while a writer holds it.

    Kinds are held as small codes, so that one probe of the whole dictionary by value finds
    every (kind, value) of a batch: a stored entry that matches a distinct value lands at
    ``value position * kinds + kind code``.
    """

    def __init__(self, writer: LakeWriter, name: str) -> None:
        self.writer = writer
        self.name = name
        self.spec = _SPECS[name]
        manifest = writer.manifest
        self.next_key: int = getattr(manifest, self.spec.count)
        self.kind_names: list[str | None] = [] if self.spec.kind else [None]
        self.parts: list[tuple[pa.Array, np.ndarray, np.ndarray]] = []
        self.added: list[tuple[pa.Array, np.ndarray, np.ndarray]] = []
        files = [
            # kinds read as dictionaries: a handful of values over millions of rows
            pq.read_table(
                str(path),
                partitioning=None,
                read_dictionary=[self.spec.kind] if self.spec.kind else None,
            )
            for path in writer.lake.paths(getattr(manifest, name))
        ]
        if files:
            table = pa.concat_tables(files)
            kinds = table.column(self.spec.kind) if self.spec.kind else None
            self.parts.append(
                (
                    table.column(self.spec.value).combine_chunks(),
                    np.asarray(table.column(self.spec.key).to_numpy(), dtype=np.int64),
                    self._kind_codes(kinds, table.num_rows),
                )
            )

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

    def keys(self, values: pa.Array, kinds: pa.Array | None = None) -> np.ndarray:
        """Return the key of each value (of each (kind, value)); -1 where one of them is null.

        Values not in the dictionary get the next keys, kept for the rest of the import and
        written by ``write``.
        """
        result = np.full(len(values), -1, dtype=np.int64)
        present = ~_mask(pc.is_null(values))
        if kinds is not None:
            present &= ~_mask(pc.is_null(kinds))
        rows = np.flatnonzero(present)
        if not len(rows):
            return result
        if len(rows) < len(values):
            values = values.take(pa.array(rows))
            kinds = None if kinds is None else kinds.take(pa.array(rows))
        encoded = pc.dictionary_encode(values)
        distinct = encoded.dictionary
        kind_code = self._kind_codes(kinds, len(rows))
        width = len(self.kind_names)
        pair = np.asarray(encoded.indices.to_numpy(), dtype=np.int64) * width + kind_code
        found = np.full(len(distinct) * width, -1, dtype=np.int64)
        for stored, keys, codes in self.parts:
            # the hash table is built on the batch's distinct values, the dictionary probes
            at = np.asarray(pc.fill_null(pc.index_in(stored, value_set=distinct), -1).to_numpy())
            hit = at >= 0
            # a kind registered after this part was stored cannot be in it
            found[at[hit] * width + codes[hit]] = keys[hit]
        wanted = np.zeros(len(found), dtype=bool)
        wanted[pair] = True
        missing = np.flatnonzero(wanted & (found < 0))
        if len(missing):
            new = np.arange(self.next_key, self.next_key + len(missing), dtype=np.int64)
            self.next_key += len(missing)
            found[missing] = new
            entry = (distinct.take(pa.array(missing // width)), new, missing % width)
            self.parts.append(entry)
            self.added.append(entry)
        result[rows] = found[pair]
        return result

    def write(self) -> int:
        """Stage the keys given by this import as one more dictionary file; return how many."""
        if not self.added:
            return 0
        keys = np.concatenate([keys for _, keys, _ in self.added])
        columns: dict[str, pa.Array] = {self.spec.key: pa.array(keys.astype(np.int32))}
        if self.spec.kind is not None:
            codes = np.concatenate([codes for _, _, codes in self.added])
            columns[self.spec.kind] = pa.array(self.kind_names, pa.string()).take(pa.array(codes))
        columns[self.spec.value] = pa.concat_arrays([values for values, _, _ in self.added])
        folder = self.writer.scratch(f"dictionary-{self.name}")
        pq.write_table(pa.table(columns), str(folder / "part.parquet"), compression="zstd")
        manifest = self.writer.manifest
        for _, relative in self.writer.publish(folder, self.name):
            getattr(manifest, self.name).append(relative)
        setattr(manifest, self.spec.count, self.next_key)
        self.added = []
        return len(keys)


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return a boolean column as a NumPy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)
