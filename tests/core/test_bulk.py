"""``core.bulk.paused_gc``: the collector stays off until the last overlapping holder is done."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from qunyun.core.bulk import paused_gc


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_overlapping_holders_resume_the_collector_only_when_the_last_is_done() -> None:
    gc.enable()
    first, second = paused_gc(), paused_gc()

    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first holder ends while the second still runs
    during = gc.isenabled()
    second.__exit__(None, None, None)

    assert (during, gc.isenabled()) == (False, True)


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()

    with paused_gc():
        inside = gc.isenabled()

    assert (inside, gc.isenabled()) == (False, False)
