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
    """One dictionary of the lake (``members`` or ``groups``) while a writer holds it."""

    def __init__(self, writer: LakeWriter, name: str) -> None:
        self.writer = writer
        self.name = name
        self.spec = _SPECS[name]
        manifest = writer.manifest
        self.next_key: int = getattr(manifest, self.spec.count)
        self.parts: dict[str | None, list[tuple[pa.Array, np.ndarray]]] = {}
        self.added: list[tuple[str | None, pa.Array, np.ndarray]] = []
        for path in writer.lake.paths(getattr(manifest, name)):
            self._load(pq.read_table(str(path), partitioning=None))

    def _load(self, table: pa.Table) -> None:
        values = table.column(self.spec.value).combine_chunks()
        keys = np.asarray(table.column(self.spec.key).to_numpy(), dtype=np.int64)
        if self.spec.kind is None:
            self.parts.setdefault(None, []).append((values, keys))
            return
        kinds = table.column(self.spec.kind).combine_chunks()
        for kind in pc.unique(kinds).to_pylist():
            rows = np.flatnonzero(_mask(pc.equal(kinds, kind)))
            self.parts.setdefault(kind, []).append((values.take(pa.array(rows)), keys[rows]))

    def keys(self, values: pa.Array, kinds: pa.Array | None = None) -> np.ndarray:
        """Return the key of each value (of each (kind, value)); -1 where one of them is null.

        Values not in the dictionary get the next keys, kept for the rest of the import and
        written by ``write``.
        """
        result = np.full(len(values), -1, dtype=np.int64)
        present = ~_mask(pc.is_null(values))
        if kinds is None:
            selections: list[tuple[str | None, np.ndarray]] = [(None, np.flatnonzero(present))]
        else:
            present &= ~_mask(pc.is_null(kinds))
            selections = [
                (kind, np.flatnonzero(present & _mask(pc.equal(kinds, kind))))
                for kind in pc.unique(kinds.filter(pa.array(present))).to_pylist()
            ]
        for kind, rows in selections:
            if not len(rows):
                continue
            encoded = pc.dictionary_encode(values.take(pa.array(rows)))
            distinct = encoded.dictionary
            found = np.full(len(distinct), -1, dtype=np.int64)
            for stored, keys in self.parts.get(kind, []):
                # the hash table is built on the batch's distinct values, the dictionary probes
                at = pc.index_in(stored, value_set=distinct)
                hit = ~_mask(pc.is_null(at))
                found[np.asarray(at.fill_null(0).to_numpy())[hit]] = keys[hit]
            missing = np.flatnonzero(found < 0)
            if len(missing):
                new = np.arange(self.next_key, self.next_key + len(missing), dtype=np.int64)
                self.next_key += len(missing)
                found[missing] = new
                new_values = distinct.take(pa.array(missing))
                self.parts.setdefault(kind, []).append((new_values, new))
                self.added.append((kind, new_values, new))
            result[rows] = found[np.asarray(encoded.indices.to_numpy())]
        return result

    def write(self) -> int:
        """Stage the keys given by this import as one more dictionary file; return how many."""
        if not self.added:
            return 0
        keys = np.concatenate([keys for _, _, keys in self.added])
        columns: dict[str, pa.Array] = {self.spec.key: pa.array(keys.astype(np.int32))}
        if self.spec.kind is not None:
            columns[self.spec.kind] = pa.concat_arrays(
                [pa.repeat(pa.scalar(kind, pa.string()), len(keys)) for kind, _, keys in self.added]
            )
        columns[self.spec.value] = pa.concat_arrays([values for _, values, _ in self.added])
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
