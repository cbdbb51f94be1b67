from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from qunyun.analytics.group_health import stored_group_health
from qunyun.analytics.lake import open_lake
from qunyun.events import recent
from qunyun.events.actions import do_ingest_events, do_rebuild_rollups, tenant_lake
from qunyun.org.models import Tenant

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 11, 23, tzinfo=SHANGHAI)

Draw = tuple[int, int, int, str, str, str, int]
"""(event number, days back, minutes after local midnight, kind, group, member kind, member)."""

_DRAWS = st.tuples(
    st.integers(0, 90),  # a small range of ids: repeats within and across imports
    # the window's edge (27, 28 days back) and beyond it, and local midnight on both sides
    st.one_of(st.integers(0, 34), st.sampled_from([27, 28, 29])),
    st.sampled_from([-1, 0, 1, 600]),
    st.sampled_from(["message", "message", "message", "join"]),
    st.sampled_from(["G1", "G2", "G3", ""]),
    st.sampled_from(["store", "consumer", "staff"]),
    st.integers(0, 4),
)


def _tenant() -> Tenant:
    return Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def _event(draw: Draw) -> dict[str, object]:
    number, days_back, minutes, kind, group, member_kind, member = draw
    moment = MIDNIGHT - timedelta(days=days_back) + timedelta(minutes=minutes)
    return {
        "event_id": f"e{number}",
        "ts": int(moment.timestamp() * 1000),
        "kind": kind,
        "group_id": group,
        "member_kind": member_kind,
        "member_id": f"M{member}",
    }


def _expected(events: list[dict[str, object]]) -> dict[tuple[str, str, str], date]:
    """Return each customer's last message day per group in the 28 days ending on the last day."""
    seen: set[object] = set()
    firsts = []
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            firsts.append(event)
    days = [
        datetime.fromtimestamp(int(str(event["ts"])) / 1000, UTC).astimezone(SHANGHAI).date()
        for event in firsts
    ]
    last = max(days)
    expected: dict[tuple[str, str, str], date] = {}
    for event, day in zip(firsts, days, strict=True):
        if (
            event["kind"] == "message"
            and event["group_id"]
            and event["member_kind"] != "staff"
            and (last - day).days < 28
        ):
            key = (str(event["group_id"]), str(event["member_kind"]), str(event["member_id"]))
            expected[key] = max(expected.get(key, day), day)
    return expected


def _stored(root: Path, tenant: Tenant) -> tuple[dict[tuple[str, str, str], date], dict[str, int]]:
    """Return the lake's recent customers by ids, and the stored health's senders per group."""
    lake = tenant_lake(tenant, root)
    tables = open_lake(lake)
    named = tables.recent_customers.join(tables.groups, "group_key").join(
        tables.members, "member_key"
    )
    customers = {
        (row["group_id"], row["member_kind"], row["member_id"]): row["last_day"]
        for row in named.to_pyarrow().to_pylist()
    }
    health = stored_group_health(lake, date.fromisoformat(max(tables.manifest.events)))
    assert health is not None
    senders = dict(
        zip(
            health.column("group_id").to_pylist(),
            health.column("customer_senders").to_pylist(),
            strict=True,
        )
    )
    return customers, senders


def _senders(expected: dict[tuple[str, str, str], date], groups: list[str]) -> dict[str, int]:
    return {group: sum(1 for key in expected if key[0] == group) for group in groups}


@settings(max_examples=60, deadline=None)
@example(  # a run of a day, then the window moves past the base's day and the run's pair
    [
        (0, 30, 600, "message", "G1", "store", 1),
        (1, 29, 600, "message", "G1", "store", 2),
        (2, 2, 600, "message", "G1", "store", 1),
        (3, 1, 600, "message", "G1", "store", 2),
        (4, 0, 600, "join", "G2", "store", 3),
    ],
    [1, 2, 3, 4],
    1e9,
)
@example(  # a late message for an old day inside the window, and a repeated id
    [
        (0, 0, 600, "message", "G1", "store", 1),
        (1, 20, 600, "message", "G1", "store", 2),
        (0, 10, 600, "message", "G2", "store", 1),
        (2, 20, 600, "message", "G1", "store", 2),
    ],
    [1, 2, 3],
    1e9,
)
@given(
    st.lists(_DRAWS, min_size=1, max_size=50),
    st.lists(st.integers(1, 49), max_size=8),
    st.sampled_from([0.0, 0.25, 1e9]),
)
def test_recent_customers_in_day_runs_answer_as_one_rollup_over_many_imports(
    draws: list[Draw], cuts: list[int], share: float
) -> None:
    # given: events over 35 days in up to nine imports (late events and repeated ids among
    # them), with the day runs folded into the base at every import (share 0), once they hold
    # a quarter of it, or never while inside the window (share 10^9)
    tenant = _tenant()
    events = [_event(draw) for draw in draws]
    bounds = [0, *sorted({cut for cut in cuts if cut < len(events)}), len(events)]
    groups = ["G1", "G2", "G3"]
    with tempfile.TemporaryDirectory() as folder, patch.object(recent, "RUN_SHARE", share):
        root = Path(folder)
        for start, end in pairwise(bounds):
            # when: each import
            do_ingest_events(tenant, events[start:end], skip_invalid=False, root=root)

            # then: the rollup and the stored senders are those of every event so far
            expected = _expected(events[:end])
            customers, senders = _stored(root, tenant)
            assert customers == expected
            assert {group: senders.get(group, 0) for group in groups} == _senders(expected, groups)

        # when: a rebuild, which writes one base and no runs
        runs = tenant_lake(tenant, root).manifest().recent_customer_runs
        do_rebuild_rollups(tenant, root=root)
        rebuilt, rebuilt_senders = _stored(root, tenant)
        after = tenant_lake(tenant, root).manifest().recent_customer_runs

    # then
    assert rebuilt == customers
    assert rebuilt_senders == senders
    assert after == {}
    if share == 0.0:
        assert runs == {}


def test_a_refresh_writes_its_days_run_and_folds_the_runs_once_they_hold_a_quarter(
    tmp_path: Path,
) -> None:
    # given: eight customers of G1 two days back (the base)
    tenant = _tenant()
    lake = tenant_lake(tenant, tmp_path)
    day = [(MIDNIGHT - timedelta(days=back)).date().isoformat() for back in (2, 1, 0)]
    do_ingest_events(
        tenant,
        [_event((member, 2, 600, "message", "G1", "store", member)) for member in range(8)],
        root=tmp_path,
    )
    base = lake.manifest().recent_customers["file"]

    # when: a day with one customer (two, one of them new, then), then a day with two new ones
    do_ingest_events(tenant, [_event((10, 1, 600, "message", "G1", "store", 0))], root=tmp_path)
    first = lake.manifest()
    do_ingest_events(tenant, [_event((11, 1, 601, "message", "G1", "store", 8))], root=tmp_path)
    second = lake.manifest()
    _, second_senders = _stored(tmp_path, tenant)
    do_ingest_events(
        tenant,
        [_event((12 + member, 0, 600, "message", "G2", "store", member)) for member in range(2)],
        root=tmp_path,
    )
    third = lake.manifest()
    customers, senders = _stored(tmp_path, tenant)

    # then: the runs of 1 and 2 pairs stay beside the base of 8; with 4 they are folded
    assert (first.recent_customers["file"], list(first.recent_customer_runs)) == (base, [day[1]])
    assert (second.recent_customers["file"], list(second.recent_customer_runs)) == (base, [day[1]])
    assert second.recent_customer_runs[day[1]] != first.recent_customer_runs[day[1]]
    # (the day's second run knows M0 from its first: counted once, from the base)
    assert second_senders == {"G1": 9}
    assert third.recent_customers["file"] != base
    assert third.recent_customer_runs == {}
    assert third.recent_customers["day"] == day[2]
    assert senders == {"G1": 9, "G2": 2}
    assert customers == {
        **{("G1", "store", f"M{member}"): date.fromisoformat(day[0]) for member in range(1, 8)},
        ("G1", "store", "M0"): date.fromisoformat(day[1]),
        ("G1", "store", "M8"): date.fromisoformat(day[1]),
        ("G2", "store", "M0"): date.fromisoformat(day[2]),
        ("G2", "store", "M1"): date.fromisoformat(day[2]),
    }
