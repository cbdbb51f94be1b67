from __future__ import annotations

import json
import tempfile
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.analytics.lake import open_lake
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.events.keys import KeyDictionary
from qunyun.events.lake import id_hashes

from .test_ingest import _event, _published_files, _tenant


def _few_hashes(self: KeyDictionary, values: pa.Array, kinds: np.ndarray) -> np.ndarray:
    """Three hash values for every entry: lookups must tell colliding entries apart."""
    return id_hashes(values) % np.uint64(3)


def _forget_key_index(root: Path) -> None:
    """Make the lake look as written before the key index (its dictionary files only)."""
    folder = root / "tenant=acme"
    stored = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for runs in stored.pop("key_index", {}).values():
        for run in runs:
            (folder / run["file"]).unlink()
    (folder / "manifest.json").write_text(json.dumps(stored), encoding="utf-8")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["store", "staff", "consumer"]), st.integers(0, 12)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(1, 59), max_size=4),
    st.booleans(),
    st.integers(0, 4),
)
def test_every_member_keeps_one_dense_key_across_imports_collisions_and_an_upgrade(
    members: list[tuple[str, int]], cuts: list[int], colliding: bool, upgrade_after: int
) -> None:
    # given: events of members (a kind and an id; one id may come with several kinds),
    # ingested in several calls; hashes that collide, or not; one lake that loses its
    # key index part way (as a lake written before it)
    tenant = _tenant()
    events = [
        _event(f"e{number}", 1763913600000 + number, member_kind=kind, member_id=f"S{member}")
        for number, (kind, member) in enumerate(members)
    ]
    bounds = [0, *sorted({cut for cut in cuts if cut < len(events)}), len(events)]
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if colliding:
            patch.setattr(KeyDictionary, "_hashes", _few_hashes)

        # when
        for number, (start, end) in enumerate(pairwise(bounds)):
            if number == upgrade_after and number > 0:
                _forget_key_index(root)
            do_ingest_events(tenant, events[start:end], skip_invalid=False, root=root)
        tables = open_lake(tenant_lake(tenant, root))
        stored = tables.members.to_pyarrow().to_pylist()
        keyed = tables.events.select("member_key", "member_kind", "member_id").to_pyarrow()
        manifest = tenant_lake(tenant, root).manifest()
        files = _published_files(root)

    # then: one key per (kind, id), dense, and every event keyed to its own member
    distinct = {(kind, f"S{member}") for kind, member in members}
    by_key = {row["member_key"]: (row["member_kind"], row["member_id"]) for row in stored}
    assert sorted(by_key) == list(range(len(distinct)))
    assert set(by_key.values()) == distinct
    assert manifest.member_count == len(distinct)
    for row in keyed.to_pylist():
        assert by_key[row["member_key"]] == (row["member_kind"], row["member_id"])
    assert sum(run["count"] for run in manifest.key_index["members"]) == len(distinct)
    assert files == len(manifest.files())
