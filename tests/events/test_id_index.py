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

from qunyun.events import actions
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.events.lake import id_hashes

from .test_ingest import _event, _lake_events, _published_files, _tenant


def _few_hashes(event_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Four hash values for every id: the index must tell colliding ids apart."""
    return id_hashes(event_ids) % np.uint64(4)


def _forget_directories(root: Path) -> None:
    """Make the lake's id runs look as written before directories."""
    folder = root / "tenant=acme"
    stored = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for run in stored["id_runs"]:
        (folder / run.pop("directory")).unlink()
    (folder / "manifest.json").write_text(json.dumps(stored), encoding="utf-8")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 25), min_size=1, max_size=50),
    st.lists(st.integers(1, 49), max_size=5),
    st.booleans(),
    st.integers(0, 5),
)
def test_each_id_is_one_event_with_colliding_hashes_and_runs_without_directories(
    ids: list[int], cuts: list[int], colliding: bool, forget_after: int
) -> None:
    # given: events whose ids repeat, ingested in several calls (each adds an id run, merged
    # by size); hashes that collide, or not; runs that lose their directories part way
    tenant = _tenant()
    events = [_event(f"e{number}", 1763913600000 + number) for number in ids]
    bounds = [0, *sorted({cut for cut in cuts if cut < len(events)}), len(events)]
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if colliding:
            patch.setattr(actions, "id_hashes", _few_hashes)

        # when
        duplicates = 0
        for number, (start, end) in enumerate(pairwise(bounds)):
            if number == forget_after and number > 0:
                _forget_directories(root)
            duplicates += do_ingest_events(tenant, events[start:end], root=root).duplicates
        stored = [event_id for event_id, _, _ in _lake_events(tenant, root)]
        manifest = tenant_lake(tenant, root).manifest()
        files = _published_files(root)

    # then: every id once; every run with its directory again
    assert stored == sorted({f"e{number}" for number in ids})
    assert duplicates == len(ids) - len(set(ids))
    assert all("directory" in run for run in manifest.id_runs)
    assert sum(run["count"] for run in manifest.id_runs) == len(set(ids))
    assert files == len(manifest.files())
