"""Spark parity: every analysis gives the same rows on PySpark (local mode) as on DuckDB.

One lake of a few thousand events goes through the public import (three files: the second
brings late events for old days and ids seen in the first, the third a copy of some events),
with events at Asia/Shanghai midnights, outside groups, after the as-of day, and of members
the master data does not know. Each analysis runs on both engines over the same Parquet
files and the rows must be equal exactly, in order, with the same types: the exported rows
(CSV cells, floats rounded as exported) and the raw Ibis results (schema and values; the
scores are rounded to 9 places on every engine). Spark starts once per
test session; without Java or pyspark the tests are skipped, and fail under CI.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from qunyun.analytics import engines
from qunyun.analytics.funnel import cohort_rows, cohorts, funnel_rows
from qunyun.analytics.group_daily import (
    GROUP_DAILY_HEADER,
    daily_by_group_key,
    daily_from_events,
    group_daily,
    group_daily_rows,
)
from qunyun.analytics.group_health import group_health
from qunyun.analytics.lake import LakeTables, open_lake
from qunyun.analytics.member_levels import level_counts, member_level_rows, member_levels
from qunyun.analytics.reach import first_appearances, reach, reach_rows
from qunyun.analytics.referrals import first_referrals, referral_rows, referral_trees
from qunyun.analytics.staff_silence import SeatedLeader, staff_silence
from qunyun.analytics.vip import StoreValue, vip_candidate_rows, vip_candidates
from qunyun.core import settings as settings_module
from qunyun.core.errors import ConfigurationError
from qunyun.events.actions import do_import_events, tenant_lake
from qunyun.events.lake import TenantLake
from qunyun.org.models import StaffRole, Tenant

from ..conftest import Cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 11, 23)
DAYS = 100
SMALL_LAKE_SPARK = (
    "spark.sql.shuffle.partitions=2,spark.sql.adaptive.enabled=false,"
    "spark.sql.codegen.wholeStage=false,"
    "spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
)
"""Spark settings for a small lake on a small machine: few partitions, a quick JVM."""

DEALER_GROUPS = [f"DG{i}" for i in range(1, 4)]
STORE_GROUPS = [f"SG{i}" for i in range(1, 9)]
CONSUMER_GROUPS = [f"CG{i}" for i in range(1, 11)]
GROUPS = [*DEALER_GROUPS, *STORE_GROUPS, *CONSUMER_GROUPS, "VG1", "X1", "Z9"]
KNOWN = {"X1": "store", "SG9": "store", "DG9": "dealer", "CG1": "consumer"}
STORES = [f"S{i}" for i in range(1, 41)]
CONSUMERS = [f"C{i}" for i in range(1, 161)]
LEADERS = ["L1", "L2", "L3", "L4"]
STAFF = [*LEADERS, "R1", "R2", "R3"]


@pytest.fixture(scope="session")
def spark() -> Iterator[None]:
    """Start the process's Spark session once, stop it at the end (fail under CI without it)."""
    saved = {name: os.environ.get(name) for name in ("QUNYUN_SPARK_MASTER", "QUNYUN_SPARK_CONF")}
    os.environ["QUNYUN_SPARK_MASTER"] = "local[2]"
    os.environ["QUNYUN_SPARK_CONF"] = SMALL_LAKE_SPARK
    settings_module.get_settings.cache_clear()
    try:
        engines.spark_session()
    except ConfigurationError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Spark parity needs pyspark and Java: {error.message}")
        pytest.skip(f"Spark parity needs pyspark and Java: {error.message}")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.get_settings.cache_clear()
    yield
    engines.stop_spark()


def _moment(rng: random.Random, days_back: int) -> datetime:
    day = datetime.combine(AS_OF - timedelta(days=days_back), datetime.min.time(), SHANGHAI)
    edge = rng.random()
    if edge < 0.08:  # the last millisecond of the local day, or its first
        return day + timedelta(days=1) - timedelta(milliseconds=1)
    if edge < 0.16:
        return day
    return day + timedelta(
        hours=rng.choice([8, 9, 10, 12, 19, 20, 21, 22]), minutes=rng.randrange(60)
    )


def _ts(rng: random.Random, moment: datetime) -> object:
    form = rng.random()
    if form < 0.4:
        return moment.isoformat(timespec="milliseconds")  # +08:00
    if form < 0.7:
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return int(moment.timestamp() * 1000)  # epoch milliseconds


def _member(rng: random.Random) -> tuple[str, str]:
    pick = rng.random()
    if pick < 0.3:
        return "store", rng.choice(STORES)
    if pick < 0.85:
        return "consumer", rng.choice(CONSUMERS)
    if pick < 0.9:
        return "distributor", f"D{rng.randrange(1, 6)}"
    return "staff", rng.choice(STAFF)


def _events(rng: random.Random) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def add(kind: str, days_back: int, group: str, who: tuple[str, str], **extra: Any) -> None:
        moment = _moment(rng, days_back)
        events.append(
            {
                "event_id": f"e{len(events)}",
                "ts": _ts(rng, moment),
                "kind": kind,
                "group_id": group,
                "member_kind": who[0],
                "member_id": who[1],
                **extra,
            }
        )

    kinds = ["message"] * 10 + ["join"] * 2 + ["red_packet_grab"] * 2 + ["order", "leave"]
    for _ in range(3000):
        # busy groups are busy, a few groups are dead or dormant; some days are after as-of
        group = rng.choice(GROUPS[: rng.choice([4, 12, len(GROUPS)])] + [""] * 1)
        days_back = rng.choice([rng.randrange(-2, 30), rng.randrange(-2, DAYS), 89, 90, 27, 28])
        if group in ("Z9", "VG1") and days_back < 40:
            days_back += 45  # dormant and dead groups
        kind = rng.choice(kinds)
        who = _member(rng)
        if who[1] in ("L1", "L2"):
            who = ("staff", "R1")  # two leaders never speak
        extra: dict[str, Any] = {}
        if kind == "message":
            extra = {"msg_type": rng.choice(["text", "image", "link"]), "length": rng.randrange(80)}
        elif kind == "join":
            extra = {"scene": rng.choice(["qr", "invite", "direct"])}
        elif kind == "red_packet_grab":
            extra = {"red_packet_id": f"RP{rng.randrange(40)}", "amount_fen": rng.randrange(1, 500)}
        elif kind == "order":
            extra = {
                "order_id": f"O{rng.randrange(10**6)}",
                "amount_fen": rng.randrange(100, 90000),
            }
        add(kind, days_back, group, who, **extra)
    for store in STORES[:12]:  # VIP-worthy stores: active, some with orders
        for days_back in range(0, 60, rng.choice([2, 3, 5])):
            add("message", days_back, rng.choice(STORE_GROUPS), ("store", store), length=10)
        add(
            "order",
            rng.randrange(80),
            "",
            ("store", store),
            order_id=f"V{store}",
            amount_fen=rng.randrange(10**5),
        )
    for index in range(1, len(CONSUMERS)):  # referral trees, a loop attempt and double invites
        inviter = (
            CONSUMERS[rng.randrange(max(1, index // 3))]
            if rng.random() < 0.8
            else rng.choice(STORES)
        )
        kind_of = "consumer" if inviter.startswith("C") else "store"
        add(
            "referral",
            rng.randrange(DAYS),
            rng.choice(CONSUMER_GROUPS),
            ("consumer", CONSUMERS[index]),
            inviter_kind=kind_of,
            inviter_id=inviter,
        )
    add(
        "referral",
        3,
        "CG2",
        ("consumer", CONSUMERS[0]),
        inviter_kind="consumer",
        inviter_id=CONSUMERS[5],
    )
    for content in range(1, 7):  # content travelling down the tiers with delays and losses
        start = _moment(rng, rng.randrange(5, 60))
        for tier, groups, hours in (
            (0, DEALER_GROUPS, 0),
            (1, STORE_GROUPS, 6),
            (2, CONSUMER_GROUPS, 30),
        ):
            for group in groups:
                if rng.random() < 0.7 ** (tier + 1):
                    moment = start + timedelta(hours=hours + rng.randrange(48))
                    days_back = (AS_OF - moment.astimezone(SHANGHAI).date()).days
                    add(
                        rng.choice(["content_share", "content_view"]),
                        days_back,
                        group,
                        _member(rng),
                        content_id=f"K{content}",
                    )
    for packet in range(20):
        add(
            "red_packet_send",
            rng.randrange(DAYS),
            rng.choice(GROUPS),
            ("staff", rng.choice(["R1", "R2", "L3"])),
            red_packet_id=f"RP{packet}",
            amount_fen=rng.randrange(100, 20000),
        )
    return events


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> TenantLake:
    """Return a lake built through three imports: late events, duplicates across files."""
    folder = tmp_path_factory.mktemp("parity")
    rng = random.Random(20261201)
    events = _events(rng)
    rng.shuffle(events)
    recent = [e for e in events if (AS_OF - _local_day(e)).days < 40]
    old = [e for e in events if (AS_OF - _local_day(e)).days >= 40]
    copies = rng.sample(events, 300)
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    # first the recent days with some copies inside the file, then the late events for old days
    # with ids seen before, then copies alone (nothing new)
    do_import_events(tenant, _write(folder / "a.jsonl", recent + copies[:100]), root=folder)
    do_import_events(tenant, _write(folder / "b.jsonl", old + copies[100:200]), root=folder)
    do_import_events(tenant, _write(folder / "c.jsonl", copies[200:]), root=folder)
    opened = tenant_lake(tenant, folder)
    assert opened.manifest().event_count == len(events)
    return opened


def _local_day(event: dict[str, Any]) -> date:
    ts = event["ts"]
    if isinstance(ts, int):
        moment = datetime.fromtimestamp(ts / 1000, UTC)
    else:
        moment = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    return moment.astimezone(SHANGHAI).date()


@pytest.fixture(scope="module")
def both(lake: TenantLake, spark: None) -> tuple[LakeTables, LakeTables]:
    """Return the lake opened on DuckDB and on PySpark."""
    return open_lake(lake, engine="duckdb"), open_lake(lake, engine="pyspark")


LEADER_ROWS = [
    SeatedLeader("L1", "王建国", StaffRole.DIRECTOR, frozenset({"DG1", "SG1"})),
    SeatedLeader("L2", "李强", StaffRole.MANAGER, frozenset({"SG2"})),
    SeatedLeader("L3", "张伟", StaffRole.MANAGER, frozenset({"SG3", "CG1"})),
    SeatedLeader("L4", "刘洋", StaffRole.DIRECTOR, frozenset({"DG2"})),
]
STORE_VALUES = [
    StoreValue(store, "440000" if index % 3 else "110000", (index % 7) * 100_000)
    for index, store in enumerate(STORES)
]
OPEN_GROUPS = [*GROUPS, "SG9", "DG9"]


ANALYSES: dict[str, Callable[[LakeTables], list[Any]]] = {
    "group daily": lambda lake: list(group_daily_rows(lake)),
    "member levels": lambda lake: list(member_level_rows(lake, AS_OF)),
    "member levels, an older day": lambda lake: list(
        member_level_rows(lake, AS_OF - timedelta(days=40))
    ),
    "level counts": lambda lake: [level_counts(lake, AS_OF)],
    "staff silence": lambda lake: [
        voice.row() for voice in staff_silence(lake, LEADER_ROWS, AS_OF)
    ],
    "group health": lambda lake: [
        health.row() for health in group_health(lake, AS_OF, OPEN_GROUPS)
    ],
    "group health, computed by the engine": lambda lake: [
        health.row() for health in group_health(lake, AS_OF, OPEN_GROUPS, stored=False)
    ],
    "VIP candidates": lambda lake: list(vip_candidate_rows(lake, STORE_VALUES, AS_OF, 0.1)),
    "funnel": lambda lake: funnel_rows(lake, AS_OF, KNOWN),
    "cohorts": lambda lake: list(cohort_rows(lake, AS_OF)),
    "reach": lambda lake: reach_rows(reach(lake, AS_OF, KNOWN)),
    "referral trees": lambda lake: list(
        referral_rows(referral_trees(first_referrals(lake, AS_OF)))
    ),
}
"""Every analysis (the report only arranges these, and on Spark would cost all of them again)."""


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_analysis_gives_the_same_rows_on_spark(
    both: tuple[LakeTables, LakeTables], name: str
) -> None:
    duckdb, spark = both

    on_duckdb = ANALYSES[name](duckdb)
    on_spark = ANALYSES[name](spark)

    assert on_duckdb  # every analysis has something to show on this lake
    assert on_spark == on_duckdb


GROUP_DAILY_COMPUTED: dict[str, Callable[[LakeTables], Any]] = {
    "from the events": lambda lake: daily_from_events(lake.events),
    "from the member-daily rollup": lambda lake: daily_by_group_key(lake.member_daily),
}
"""Group daily computed by an engine; imports store it computed with NumPy."""


def _by_day_and_group(table: Any) -> list[dict[str, Any]]:
    columns = ["day", "group_key", *GROUP_DAILY_HEADER[2:]]
    return table.select(*columns).order_by(["day", "group_key"]).to_pyarrow().to_pylist()


@pytest.mark.parametrize("name", list(GROUP_DAILY_COMPUTED))
def test_group_daily_computed_on_each_engine_equals_the_stored_rollup(
    both: tuple[LakeTables, LakeTables], name: str
) -> None:
    duckdb, spark = both

    stored = _by_day_and_group(duckdb.group_daily)
    on_duckdb = _by_day_and_group(GROUP_DAILY_COMPUTED[name](duckdb))
    on_spark = _by_day_and_group(GROUP_DAILY_COMPUTED[name](spark))

    assert len(stored) > 500
    assert on_duckdb == stored
    assert on_spark == stored


EXPRESSIONS: dict[str, Callable[[LakeTables], Any]] = {
    "member levels": lambda lake: member_levels(lake, AS_OF),
    "VIP candidates": lambda lake: vip_candidates(lake, STORE_VALUES, AS_OF, 0.1),
    "cohorts": lambda lake: cohorts(lake, AS_OF).order_by("cohort_week"),
    "first appearances": lambda lake: first_appearances(lake, AS_OF, KNOWN).order_by(
        ["content_id", "tier", "group_id"]
    ),
    "empty results": lambda lake: group_daily(lake).filter(lambda t: t.messages < 0),
}
"""The results with floats, lists and timestamps (integer results are equal when their rows are)."""


def _comparable(table: pa.Table) -> list[dict[str, Any]]:
    def value(cell: Any) -> Any:
        return sorted(cell) if isinstance(cell, list) else cell  # a collected list has no order

    return [{key: value(cell) for key, cell in row.items()} for row in table.to_pylist()]


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_the_ibis_expressions_give_the_same_types_and_values(
    both: tuple[LakeTables, LakeTables], name: str
) -> None:
    duckdb, spark = both

    on_duckdb = EXPRESSIONS[name](duckdb).to_pyarrow()
    on_spark = EXPRESSIONS[name](spark).to_pyarrow()

    assert on_duckdb.num_rows > 0 or name == "empty results"
    assert on_spark.schema == on_duckdb.schema
    assert _comparable(on_spark) == _comparable(on_duckdb)


def test_the_engine_setting_moves_the_analyses_to_spark(
    lake: TenantLake, spark: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNYUN_ANALYTICS_ENGINE", "PySpark")
    settings_module.get_settings.cache_clear()
    try:
        opened = open_lake(lake)
    finally:
        monkeypatch.delenv("QUNYUN_ANALYTICS_ENGINE")
        settings_module.get_settings.cache_clear()

    assert opened.backend.name == "pyspark"
    assert list(group_daily_rows(opened)) == list(group_daily_rows(open_lake(lake)))


def test_an_empty_lake_gives_empty_results_on_spark(tmp_path: Path, spark: None) -> None:
    tenant = Tenant(
        slug="empty",
        name="E",
        timezone="Asia/Shanghai",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    empty = open_lake(tenant_lake(tenant, tmp_path), engine="pyspark")

    assert list(group_daily_rows(empty)) == []
    assert (
        group_daily(empty).to_pyarrow().schema
        == group_daily(open_lake(tenant_lake(tenant, tmp_path), engine="duckdb"))
        .to_pyarrow()
        .schema
    )


def test_an_unknown_engine_is_refused_by_name(cli: Cli, tenant: Tenant) -> None:
    result = cli("report", "--engine", "sqlite", expect=2)

    assert "unknown analytics engine) 'sqlite': use one of duckdb, pyspark" in result.output


def test_a_bad_engine_setting_is_refused_by_name(
    cli: Cli, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNYUN_ANALYTICS_ENGINE", "spark")
    monkeypatch.setenv("QUNYUN_SPARK_CONF", "driver.memory=4g")
    settings_module.get_settings.cache_clear()

    result = cli("report", expect=2)

    assert "QUNYUN_ANALYTICS_ENGINE: Input should be 'duckdb' or 'pyspark'" in result.output
    assert "QUNYUN_SPARK_CONF: 'driver.memory=4g' is not a Spark setting" in result.output
