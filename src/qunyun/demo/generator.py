"""A deterministic, realistic demo brand: a beverage company and its channel.

Four sales regions (广东, 浙江, 四川, 河南) with real cities and districts; a director, one
manager per region, supervisors, reps (about one per 250 stores) and group admins; three
tiers of distributors; terminal stores of every type in the reps' territories; consumers
with seed users and KOLs. The same seed and sizes always give byte-identical files.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faker import Faker

from qunyun.channel.imports import scale_tier_for
from qunyun.channel.models import GROWTH_LABELS, STORE_TYPE_LABELS
from qunyun.core.money import parse_yuan
from qunyun.core.tabular import write_csv
from qunyun.groups.planner import StoreFacts
from qunyun.org.regions import Region, catalogue, resolve_city, resolve_province

BRAND_NAME = "清泉饮品"
STORES_PER_REP = 250
REPS_PER_SUPERVISOR = 5


@dataclass(frozen=True)
class SalesRegion:
    """A sales region: a province, its cities with rough centres, and its share of stores."""

    province: str
    cities: tuple[tuple[str, float, float], ...]
    share: float
    districts_per_city: int = 6


SALES_REGIONS = (
    SalesRegion(
        "广东", (("广州", 23.13, 113.26), ("深圳", 22.54, 114.06), ("佛山", 23.02, 113.12)), 0.35
    ),
    SalesRegion(
        "浙江", (("杭州", 30.27, 120.15), ("宁波", 29.87, 121.55), ("温州", 28.00, 120.67)), 0.25
    ),
    SalesRegion("四川", (("成都", 30.57, 104.07), ("绵阳", 31.47, 104.68)), 0.22),
    SalesRegion("河南", (("郑州", 34.75, 113.62), ("洛阳", 34.62, 112.45)), 0.18),
)

STORE_TYPES = (
    ("便利店", 40),
    ("超市", 15),
    ("餐饮", 20),
    ("烟酒店", 12),
    ("母婴店", 6),
    ("批发部", 3),
    ("其他", 4),
)
STORE_SUFFIX = {
    "便利店": ("便利店", "小卖部", "便民超市"),
    "超市": ("超市", "生活超市", "购物广场"),
    "餐饮": ("饭店", "酒家", "小馆", "火锅店", "大排档"),
    "烟酒店": ("烟酒行", "名烟名酒", "烟酒店"),
    "母婴店": ("母婴店", "孕婴坊", "宝贝屋"),
    "批发部": ("批发部", "副食批发"),
    "其他": ("商行", "杂货铺", "文具店"),
}
PURCHASE_MEDIAN_YUAN = {
    "便利店": 45_000,
    "超市": 160_000,
    "餐饮": 60_000,
    "烟酒店": 80_000,
    "母婴店": 40_000,
    "批发部": 260_000,
    "其他": 25_000,
}
GROWTH_WEIGHTS = {
    # potential, stable, declining
    "便利店": (25, 55, 20),
    "超市": (15, 60, 25),
    "餐饮": (35, 45, 20),
    "烟酒店": (15, 55, 30),
    "母婴店": (55, 35, 10),
    "批发部": (10, 40, 50),
    "其他": (20, 50, 30),
}
KOL_KINDS = (
    "拼团团长",
    "宝妈群主",
    "广场舞召集人",
    "健身教练",
    "跆拳道教练",
    "月嫂",
    "厨师",
    "行业KOL",
    "内容达人",
)
CONSUMER_SOURCES = ("门店扫码", "抖音", "小红书", "视频号", "老带新", "线下活动", "公众号")
STORE_TAGS = ("社区店", "学校周边", "写字楼", "交通枢纽", "夜市")


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo's four CSV files were written, and their row counts."""

    staff: Path
    distributors: Path
    stores: Path
    consumers: Path
    counts: dict[str, int]


def planner_stores(stores_csv: Path) -> list[StoreFacts]:
    """Return the active stores of a generated stores file as the planner sees them.

    Without an import (the labels mapped as the store import maps them): for the homogeneity
    benchmark and its test, which plan the demo brand's territories alone.
    """
    types = {label: kind.value for kind, label in STORE_TYPE_LABELS.items()}
    growth = {label: kind.value for kind, label in GROWTH_LABELS.items()}
    with stores_csv.open(encoding="utf-8", newline="") as handle:
        return [
            StoreFacts(
                row["store_id"],
                row["rep_id"],
                types[row["store_type"]],
                scale_tier_for(parse_yuan(row["annual_purchase_yuan"])).value,
                int(row["closeness"]),
                growth[row["growth"]],
            )
            for row in csv.DictReader(handle)
            if row["status"] == "营业"
        ]


@dataclass
class _City:
    province: Region
    city: Region
    lat: float
    lon: float
    districts: list[Region]
    weight: float


class _Pools:
    """Faker output drawn once and then sampled, so large brands generate quickly."""

    def __init__(self, fake: Faker, size: int) -> None:
        self.names = [fake.name() for _ in range(size)]
        self.prefixes = list(dict.fromkeys(fake.company_prefix() for _ in range(size)))
        self.streets = [fake.street_name() for _ in range(size)]
        self.phones = [fake.phone_number() for _ in range(size)]
        self.last_names = list(dict.fromkeys(fake.last_name() for _ in range(size)))


def _weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([name for name, _ in options], weights=[weight for _, weight in options])[0]


def _phone(rng: random.Random, pools: _Pools) -> str:
    """Return a pooled mobile with four random last digits (unique enough, still valid)."""
    return rng.choice(pools.phones)[:7] + f"{rng.randrange(10_000):04d}"


def generate(
    folder: Path,
    *,
    stores: int = 15_000,
    consumers: int | None = None,
    reps: int | None = None,
    seed: int = 20261123,
) -> DemoFiles:
    """Write staff, distributors, stores and consumers CSV files for the demo brand.

    ``reps`` defaults to one rep per ``STORES_PER_REP`` stores.
    """
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    pools = _Pools(fake, 3000)
    consumers = round(stores * 4 / 3) if consumers is None else consumers
    cities = _cities()
    reps_total = max(len(SALES_REGIONS) * 2, reps or round(stores / STORES_PER_REP))

    staff_rows: list[list[object]] = [
        ["D0001", rng.choice(pools.names), "director", "", "", _phone(rng, pools)]
    ]
    region_reps: dict[str, list[str]] = {}
    rep_number = supervisor_number = admin_number = 0
    for index, sales in enumerate(SALES_REGIONS, start=1):
        manager = f"M{index:02d}"
        province = resolve_province(sales.province)
        staff_rows.append(
            [
                manager,
                rng.choice(pools.names),
                "manager",
                "D0001",
                province.name,
                _phone(rng, pools),
            ]
        )
        reps_here = max(2, round(reps_total * sales.share))
        supervisors = math.ceil(reps_here / REPS_PER_SUPERVISOR)
        region_reps[sales.province] = []
        for _ in range(supervisors):
            supervisor_number += 1
            supervisor = f"S{supervisor_number:03d}"
            staff_rows.append(
                [
                    supervisor,
                    rng.choice(pools.names),
                    "supervisor",
                    manager,
                    province.name,
                    _phone(rng, pools),
                ]
            )
            for _ in range(REPS_PER_SUPERVISOR):
                if len(region_reps[sales.province]) == reps_here:
                    break
                rep_number += 1
                rep = f"R{rep_number:04d}"
                region_reps[sales.province].append(rep)
                staff_rows.append(
                    [
                        rep,
                        rng.choice(pools.names),
                        "rep",
                        supervisor,
                        province.name,
                        _phone(rng, pools),
                    ]
                )
        for _ in range(max(1, math.ceil(reps_here / 12))):
            admin_number += 1
            staff_rows.append(
                [
                    f"A{admin_number:02d}",
                    rng.choice(pools.names),
                    "group_admin",
                    manager,
                    province.name,
                    _phone(rng, pools),
                ]
            )

    distributor_rows, city_distributors = _distributors(rng, pools, cities, stores)
    markets = _markets(rng, cities, region_reps)
    store_rows = _stores(rng, pools, markets, city_distributors, stores)
    consumer_rows = _consumers(rng, pools, cities, consumers)

    folder.mkdir(parents=True, exist_ok=True)
    paths = DemoFiles(
        folder / "staff.csv",
        folder / "distributors.csv",
        folder / "stores.csv",
        folder / "consumers.csv",
        {},
    )
    write_csv(
        paths.staff, ["staff_id", "name", "role", "manager_id", "region", "phone"], staff_rows
    )
    write_csv(
        paths.distributors,
        [
            "distributor_id",
            "name",
            "tier",
            "parent_id",
            "province",
            "city",
            "district",
            "boss_name",
            "phone",
        ],
        distributor_rows,
    )
    write_csv(
        paths.stores,
        [
            "store_id",
            "name",
            "province",
            "city",
            "district",
            "address",
            "lat",
            "lon",
            "store_type",
            "annual_purchase_yuan",
            "closeness",
            "growth",
            "rep_id",
            "distributor_id",
            "phone",
            "wechat_id",
            "status",
            "tags",
        ],
        store_rows,
    )
    write_csv(
        paths.consumers,
        ["consumer_id", "name", "city", "district", "role", "kol_kind", "source", "phone"],
        consumer_rows,
    )
    paths.counts.update(
        staff=len(staff_rows),
        distributors=len(distributor_rows),
        stores=len(store_rows),
        consumers=len(consumer_rows),
    )
    return paths


def _cities() -> list[_City]:
    result = []
    for sales in SALES_REGIONS:
        province = resolve_province(sales.province)
        for position, (name, lat, lon) in enumerate(sales.cities):
            city = resolve_city(province, name)
            districts = [
                region for region in catalogue().under(city.code) if region.name.endswith("区")
            ]
            weight = sales.share * (0.55 if position == 0 else 0.45 / (len(sales.cities) - 1))
            result.append(
                _City(province, city, lat, lon, districts[: sales.districts_per_city], weight)
            )
    return result


def _distributors(
    rng: random.Random, pools: _Pools, cities: list[_City], stores: int
) -> tuple[list[list[object]], dict[str, list[str]]]:
    rows: list[list[object]] = []
    by_city: dict[str, list[str]] = {}
    per_city = max(1, round(stores / 15_000))
    number = 0
    for city in cities:
        short = city.city.name.removesuffix("市")
        by_city[city.city.code] = []
        for _ in range(per_city):
            number += 1
            tier1 = f"DS{number:04d}"
            rows.append(
                [
                    tier1,
                    f"{short}{rng.choice(pools.prefixes)}商贸有限公司",
                    1,
                    "",
                    city.province.name,
                    city.city.name,
                    "",
                    rng.choice(pools.names),
                    _phone(rng, pools),
                ]
            )
            for _ in range(3):
                number += 1
                tier2 = f"DS{number:04d}"
                district = rng.choice(city.districts)
                rows.append(
                    [
                        tier2,
                        f"{district.name.removesuffix('区')}{rng.choice(pools.prefixes)}批发",
                        2,
                        tier1,
                        city.province.name,
                        city.city.name,
                        district.name,
                        rng.choice(pools.names),
                        _phone(rng, pools),
                    ]
                )
                by_city[city.city.code].append(tier2)
                for _ in range(2):
                    number += 1
                    tier3 = f"DS{number:04d}"
                    rows.append(
                        [
                            tier3,
                            f"{rng.choice(pools.last_names)}记{rng.choice(('副食', '配送', '粮油'))}",
                            3,
                            tier2,
                            city.province.name,
                            city.city.name,
                            district.name,
                            rng.choice(pools.names),
                            _phone(rng, pools),
                        ]
                    )
                    by_city[city.city.code].append(tier3)
    return rows, by_city


@dataclass
class _Market:
    """One rep's served market: where his stores lie and how many he carries."""

    rep: str
    places: list[tuple[_City, Region]]
    workload: float


def _markets(
    rng: random.Random, cities: list[_City], region_reps: dict[str, list[str]]
) -> dict[str, list[_Market]]:
    """Return, per sales region, its reps' markets; each rep's market lies in one region.

    Workloads differ as they do in the field: a rep in a dense city core carries a few dozen
    large accounts, a rep in the outskirts several hundred small shops (log-normal spread).
    """
    markets: dict[str, list[_Market]] = {}
    for sales in SALES_REGIONS:
        places = [
            (city, district)
            for city in cities
            if city.province.name.startswith(sales.province)
            for district in city.districts
        ]
        reps = region_reps[sales.province]
        served: list[list[tuple[_City, Region]]] = [[] for _ in reps]
        for index in range(max(len(reps), len(places))):
            served[index % len(reps)].append(places[index % len(places)])
        markets[sales.province] = [
            _Market(rep, where, min(4.0, max(0.12, rng.lognormvariate(0, 0.8))))
            for rep, where in zip(reps, served, strict=True)
        ]
    return markets


def _stores(
    rng: random.Random,
    pools: _Pools,
    markets: dict[str, list[_Market]],
    city_distributors: dict[str, list[str]],
    count: int,
) -> list[list[object]]:
    """Return the terminal stores; the attributes hang together as in a real channel.

    Bigger buyers are closer to the brand, and the growth outlook depends on the store type
    (mother-and-baby shops grow, wholesale counters decline as stores buy direct).
    """
    rows: list[list[object]] = []
    regions = [sales.province for sales in SALES_REGIONS]
    shares = [sales.share for sales in SALES_REGIONS]
    for number in range(1, count + 1):
        region_markets = markets[rng.choices(regions, weights=shares)[0]]
        market = rng.choices(region_markets, weights=[m.workload for m in region_markets])[0]
        city, district = rng.choice(market.places)
        store_type = _weighted(rng, STORE_TYPES)
        size = rng.gauss(0, 1)
        purchase = round(PURCHASE_MEDIAN_YUAN[store_type] * math.exp(0.8 * size), -2)
        closeness = min(5, max(1, round(3 + 0.8 * size + rng.gauss(0, 0.8))))
        growth = rng.choices(("潜力", "稳定", "下滑"), weights=GROWTH_WEIGHTS[store_type])[0]
        status = "关闭" if rng.random() < 0.03 else "营业"
        name = f"{rng.choice(pools.prefixes)}{rng.choice(STORE_SUFFIX[store_type])}"
        if rng.random() < 0.3:
            name = f"{district.name.removesuffix('区')}{name}"
        address = f"{district.name}{rng.choice(pools.streets)}{rng.randint(1, 999)}号"
        tags = ";".join(rng.sample(STORE_TAGS, k=1)) if rng.random() < 0.15 else ""
        rows.append(
            [
                f"ST{number:07d}",
                name,
                city.province.name,
                city.city.name,
                district.name,
                address,
                f"{city.lat + rng.uniform(-0.15, 0.15):.5f}",
                f"{city.lon + rng.uniform(-0.15, 0.15):.5f}",
                store_type,
                f"{purchase:.0f}",
                closeness,
                growth,
                market.rep,
                rng.choice(city_distributors[city.city.code]) if rng.random() < 0.9 else "",
                _phone(rng, pools) if rng.random() < 0.8 else "",
                f"wx_{rng.getrandbits(40):010x}" if rng.random() < 0.6 else "",
                status,
                tags,
            ]
        )
    return rows


def _consumers(
    rng: random.Random, pools: _Pools, cities: list[_City], count: int
) -> list[list[object]]:
    rows: list[list[object]] = []
    weights = [city.weight for city in cities]
    for number in range(1, count + 1):
        city = rng.choices(cities, weights=weights)[0]
        district = rng.choice(city.districts) if rng.random() < 0.85 else None
        role = rng.choices(("种子用户", "KOL", "粉丝", "普通"), weights=(12, 3, 30, 55))[0]
        rows.append(
            [
                f"CU{number:07d}",
                rng.choice(pools.names),
                city.city.name,
                district.name if district else "",
                role,
                rng.choice(KOL_KINDS) if role == "KOL" else "",
                rng.choice(CONSUMER_SOURCES),
                _phone(rng, pools) if rng.random() < 0.7 else "",
            ]
        )
    return rows
