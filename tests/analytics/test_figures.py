"""Community figures: computed once per lake version, refreshed at most once a minute."""

from __future__ import annotations

from pathlib import Path

import pytest

from qunyun.analytics import figures
from qunyun.analytics.figures import community_figures
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.org.models import Tenant


def _messages(group_id: str, day: int, speakers: int, prefix: str) -> list[dict[str, str]]:
    return [
        {
            "event_id": f"{prefix}-{group_id}-{speaker}",
            "ts": f"2026-11-{day:02d}T10:00:00+08:00",
            "kind": "message",
            "group_id": group_id,
            "member_kind": "store",
            "member_id": f"S{speaker}",
        }
        for speaker in range(speakers)
    ]


def test_figures_follow_the_lake_version(
    tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an empty lake: no figures
    root = tmp_path / "lake"
    lake = tenant_lake(tenant, root)
    assert community_figures(lake) is None

    # when events arrive, the next call computes at once (the empty lake is not kept)
    do_ingest_events(tenant, _messages("G1", 20, 3, "a"), root=root)
    first = community_figures(lake)
    assert first is not None
    assert (first.as_of.isoformat(), first.health_of("G1").status) == ("2026-11-20", "quiet")
    assert first.daily(["G1"]) == ([0] * 89 + [3], [0] * 89 + [3])
    assert first.daily(["nothing"]) == ([0] * 90, [0] * 90)
    assert first.health_of("nothing").status == "dead"
    assert first.health_counts(["G1", "nothing"]) == {
        "dead": 1,
        "dormant": 0,
        "quiet": 1,
        "active": 0,
    }
    assert community_figures(lake) is first

    # then within the refresh interval a new version is not read yet, after it it is
    do_ingest_events(tenant, _messages("G2", 21, 2, "b"), root=root)
    assert community_figures(lake) is first
    monkeypatch.setattr(figures, "REFRESH_SECONDS", 0.0)
    second = community_figures(lake)
    assert second is not None
    assert second is not first
    assert second.as_of.isoformat() == "2026-11-21"
    assert second.daily(None)[1][-2:] == [3, 2]
