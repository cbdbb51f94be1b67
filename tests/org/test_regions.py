"""China's divisions: short names, municipalities, leaf cities and whole-catalogue properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.org import regions
from qunyun.org.regions import (
    CITY,
    DISTRICT,
    PROVINCE,
    Region,
    RegionError,
    catalogue,
    resolve_area,
    resolve_city,
    resolve_city_anywhere,
    resolve_district,
    resolve_path,
    resolve_province,
    short_forms,
)


def _code_name(region: Region) -> tuple[str, str, str]:
    return region.code, region.name, region.level


# --- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "code", "name"),
    [
        ("广东", "440000", "广东省"),
        ("广东省", "440000", "广东省"),
        (" 广东 ", "440000", "广东省"),
        ("广西", "450000", "广西壮族自治区"),
        ("内蒙古", "150000", "内蒙古自治区"),
        ("宁夏", "640000", "宁夏回族自治区"),
        ("西藏", "540000", "西藏自治区"),
        ("北京", "110000", "北京市"),
    ],
)
def test_provinces_by_short_and_full_name(written: str, code: str, name: str) -> None:
    assert _code_name(resolve_province(written)) == (code, name, PROVINCE)


def test_cities_and_districts_by_short_name() -> None:
    guangdong = resolve_province("广东")

    assert _code_name(resolve_city(guangdong, "广州")) == ("440100", "广州市", CITY)
    assert _code_name(resolve_district("广东", "广州", "天河")) == ("440106", "天河区", DISTRICT)
    full = resolve_district("广东省", "广州市", "天河区")
    assert _code_name(full) == ("440106", "天河区", DISTRICT)
    assert _code_name(resolve_district("", "广州", "天河")) == ("440106", "天河区", DISTRICT)


def test_autonomous_prefecture_by_short_name() -> None:
    yanbian = resolve_city(resolve_province("吉林"), "延边")
    assert _code_name(yanbian) == ("222400", "延边朝鲜族自治州", CITY)
    assert _code_name(resolve_district("吉林", "延边", "延吉")) == ("222401", "延吉市", DISTRICT)
    assert short_forms("延边朝鲜族自治州") == {"延边朝鲜族自治州", "延边"}
    assert short_forms("广西壮族自治区") == {"广西壮族自治区", "广西"}


def test_short_forms_keep_two_characters() -> None:
    # a suffix is not stripped when fewer than two characters would remain
    assert short_forms("东区") == {"东区"}
    assert short_forms("沙市区") == {"沙市区", "沙市"}
    assert short_forms("广州市") == {"广州市", "广州"}


@pytest.mark.parametrize(
    ("province", "city", "code"),
    [
        ("新疆", "", "650000"),
        ("新疆维吾尔自治区", "伊犁", "654000"),
        ("新疆维吾尔自治区", "巴音郭楞", "652800"),
        ("新疆维吾尔自治区", "博尔塔拉", "652700"),
    ],
)
def test_names_without_zu_have_short_forms(province: str, city: str, code: str) -> None:
    assert resolve_area(province, city, "").code == code


def test_municipality_repeats_its_name_as_the_city() -> None:
    # 北京 / 北京 / 朝阳: the municipality is its own city
    chaoyang = resolve_district("北京", "北京", "朝阳")

    assert _code_name(chaoyang) == ("110105", "朝阳区", DISTRICT)
    full = resolve_district("北京市", "北京市", "朝阳区")
    assert _code_name(full) == ("110105", "朝阳区", DISTRICT)
    assert _code_name(resolve_city(resolve_province("北京"), "")) == ("110100", "北京市", CITY)
    assert _code_name(resolve_city_anywhere("", "北京")) == ("110100", "北京市", CITY)
    assert [region.name for region in catalogue().path("110105")] == ["北京市", "北京市", "朝阳区"]
    assert catalogue().full_name("110105") == "北京市朝阳区"


def test_city_without_districts_takes_an_empty_district_or_its_own_name() -> None:
    dongguan = resolve_district("广东", "东莞", "")

    assert (dongguan.code, dongguan.name, dongguan.is_leaf) == ("441900", "东莞市", True)
    assert resolve_district("广东", "东莞", "东莞市") == dongguan
    assert resolve_district("广东", "东莞", "东莞") == dongguan


def test_city_without_districts_refuses_another_district() -> None:
    with pytest.raises(RegionError) as caught:
        resolve_district("广东", "东莞", "虎门")

    assert str(caught.value) == "东莞市下不设区县，区县应留空或写“东莞市”"


def test_province_direct_county_is_a_leaf_under_the_province() -> None:
    xiantao = resolve_district("湖北", "仙桃", "")

    assert _code_name(xiantao) == ("429004", "仙桃市", DISTRICT)
    assert (xiantao.parent_code, xiantao.is_leaf) == ("420000", True)
    assert resolve_district("湖北省", "仙桃市", "仙桃") == xiantao
    assert catalogue().full_name("429004") == "湖北省仙桃市"


def test_unknown_district_names_the_city_it_was_looked_for_in() -> None:
    with pytest.raises(RegionError) as caught:
        resolve_district("广东", "广州", "海淀")

    assert str(caught.value) == "广东省广州市没有区县“海淀”"


def test_missing_district_of_a_city_with_districts() -> None:
    with pytest.raises(RegionError) as caught:
        resolve_district("广东", "广州", "")

    assert str(caught.value) == "缺少区县（广州市）"


@pytest.mark.parametrize(
    ("province", "city", "message"),
    [
        ("火星", "广州", "全国没有省份“火星”"),
        ("广东", "杭州", "广东省没有城市“杭州”"),
        ("", "不存在市", "全国没有城市“不存在市”"),
    ],
)
def test_unknown_province_and_city_messages(province: str, city: str, message: str) -> None:
    with pytest.raises(RegionError) as caught:
        resolve_district(province, city, "天河")

    assert str(caught.value) == message


def test_short_name_two_siblings_share_asks_for_the_full_name() -> None:
    # 临夏回族自治州 has both 临夏市 and 临夏县
    with pytest.raises(RegionError) as caught:
        resolve_district("甘肃", "临夏", "临夏")

    assert str(caught.value) == "区县“临夏”有歧义（临夏市、临夏县），请写全称"
    assert _code_name(resolve_district("甘肃", "临夏", "临夏市")) == ("622901", "临夏市", DISTRICT)
    assert _code_name(resolve_district("甘肃", "临夏", "临夏县")) == ("622921", "临夏县", DISTRICT)


def test_city_short_name_is_searched_nationwide_without_a_province() -> None:
    # 朝阳 is a district of 北京 but the only city of that name is in 辽宁
    assert _code_name(resolve_city_anywhere("", "朝阳")) == ("211300", "朝阳市", CITY)


def test_resolve_area_returns_the_most_specific_division() -> None:
    assert resolve_area("广东", "", "").code == "440000"
    assert resolve_area("广东", "广州", "").code == "440100"
    assert resolve_area("", "广州", "天河").code == "440106"
    with pytest.raises(RegionError) as caught:
        resolve_area("", " ", "")
    assert str(caught.value) == "没有填写地区"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("广东省广州市天河区", "440106"),
        ("广东/广州", "440100"),
        ("广东 · 广州 · 天河", "440106"),
        ("广东", "440000"),
        ("杭州", "330100"),
        ("北京朝阳", "110105"),
        ("北京市朝阳区", "110105"),
        ("广州天河", "440106"),
        ("延边延吉", "222401"),
        ("湖北仙桃", "429004"),
    ],
)
def test_resolve_path(text: str, code: str) -> None:
    assert resolve_path(text).code == code


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "没有填写地区"),
        (" / ", "没有填写地区"),
        ("火星基地", "不认识的地区“火星基地”"),
        ("广东省广州市海淀区", "广东省广州市下没有“海淀区”"),
    ],
)
def test_resolve_path_errors(text: str, message: str) -> None:
    with pytest.raises(RegionError) as caught:
        resolve_path(text)

    assert str(caught.value) == message


def test_region_error_is_a_value_error() -> None:
    # cell parsers report ValueError as a row problem, so a region error must be one
    assert issubclass(RegionError, ValueError)


def test_province_code() -> None:
    assert catalogue().by_code["440106"].province_code == "440000"
    assert catalogue().by_code["110105"].province_code == "110000"


def test_every_code_is_a_six_digit_adcode() -> None:
    bad = sorted(code for code in catalogue().by_code if not (len(code) == 6 and code.isdigit()))

    assert bad == []


# --- the whole catalogue -----------------------------------------------------------------


def _leaf_cells(region: Region) -> tuple[Region, Region, Region | None]:
    """Return the (province, city, district) a spreadsheet row for ``region`` holds."""
    path = catalogue().path(region.code)
    if len(path) == 3:
        return path[0], path[1], path[2]
    province, city = path
    return province, city, None


LEAVES = sorted(
    (
        region
        for region in catalogue().by_code.values()
        if region.is_leaf and region.level != PROVINCE
    ),
    key=lambda region: region.code,
)


def test_catalogue_shape() -> None:
    cat = catalogue()
    levels = [region.level for region in cat.by_code.values()]

    assert (levels.count(PROVINCE), len(cat.provinces())) == (34, 34)
    assert all(len(cat.path(region.code)) in (2, 3) for region in LEAVES)
    municipalities = [
        province.name
        for province in cat.provinces()
        if any(
            child.level == CITY and child.name == province.name
            for child in cat.under(province.code)
        )
    ]
    assert municipalities == ["北京市", "天津市", "上海市", "重庆市"]


def _unique_forms(parent_code: str | None, region: Region) -> list[str]:
    return sorted(
        form
        for form in short_forms(region.name)
        if catalogue().children_named(parent_code, form) == [region]
    )


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LEAVES))
def test_every_leaf_resolves_from_its_full_names(leaf: Region) -> None:
    # given the names a row for this leaf would hold
    province, city, district = _leaf_cells(leaf)

    # when / then the full names name exactly this leaf
    assert resolve_district(province.name, city.name, district.name if district else "") == leaf


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LEAVES), st.data())
def test_every_leaf_resolves_from_short_forms_unique_in_their_parent(
    leaf: Region, data: st.DataObject
) -> None:
    # given any short form of each part that no sibling shares
    province, city, district = _leaf_cells(leaf)
    province_form = data.draw(st.sampled_from(_unique_forms(None, province)), "province")
    city_form = data.draw(st.sampled_from(_unique_forms(province.code, city)), "city")
    district_form = (
        data.draw(st.sampled_from(_unique_forms(city.code, district)), "district")
        if district
        else ""
    )

    # when / then
    assert resolve_district(province_form, city_form, district_form) == leaf


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LEAVES))
def test_every_leaf_resolves_from_its_full_name_as_one_cell(leaf: Region) -> None:
    assert resolve_path(catalogue().full_name(leaf.code)) == leaf
    assert resolve_path("/".join(region.name for region in catalogue().path(leaf.code))) == leaf


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(catalogue().by_code)))
def test_path_and_parent_codes_agree(code: str) -> None:
    chain = catalogue().path(code)

    assert chain[-1].code == code
    assert chain[0].level == PROVINCE
    assert [region.parent_code for region in chain] == [
        None,
        *(region.code for region in chain[:-1]),
    ]
    assert regions.catalogue() is catalogue()
