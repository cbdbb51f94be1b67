"""Cell parsers of import files, and yuan ↔ fen."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.channel import fields
from qunyun.channel.models import Growth
from qunyun.core.money import format_yuan, parse_yuan

PHONE_HINT = "（手机 11 位，或座机如 020-12345678）"


def _exactly(message: str) -> str:
    """Return a ``match`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


# --- phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("86 13800138000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("(138)00138000", "13800138000"),
        ("19912345678", "19912345678"),
        ("020-12345678", "020-12345678"),
        ("(020)12345678", "020-12345678"),
        ("（020）12345678", "020-12345678"),
        ("0755-1234567", "0755-1234567"),
        ("02012345678", "02012345678"),
        ("020-12345678-123", "020-12345678-123"),
        ("400-123-4567", "400-123-4567"),
        ("4001234567", "4001234567"),
        ("800-123-4567", "800-123-4567"),
    ],
)
def test_phone_normalises(written: str, stored: str) -> None:
    assert fields.phone(written) == stored


@pytest.mark.parametrize(
    "written",
    [
        "12345",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "12800138000",  # no mobile starts 12
        "23800138000",
        "+86 020 12345678",
        "020-123456",  # landline too short
        "500-123-4567",
        "abc",
        "138OO138OOO",
        "",
    ],
)
def test_bad_phone_raises_with_the_value(written: str) -> None:
    with pytest.raises(ValueError, match=_exactly(f"不是有效的电话号码：{written!r}{PHONE_HINT}")):
        fields.phone(written)


def test_foreign_country_code_is_not_read_as_a_chinese_mobile() -> None:
    with pytest.raises(
        ValueError, match=_exactly(f"不是有效的电话号码：'+1 415 555 0100'{PHONE_HINT}")
    ):
        fields.phone("+1 415 555 0100")


def test_mobile_prefix_is_stripped_only_from_thirteen_digits() -> None:
    # "86" followed by 11 digits is a country code; a bare 11-digit "86…" is not a mobile
    assert fields.phone("8613912345678") == "13912345678"
    with pytest.raises(
        ValueError, match=_exactly(f"不是有效的电话号码：'86139123456'{PHONE_HINT}")
    ):
        fields.phone("86139123456")


@settings(max_examples=200)
@given(
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.sampled_from(["", "+86", "+86 ", "0086", "86", "0086-"]),
    st.sampled_from(["{}", "{} ", " {}", "{}"]),
)
def test_every_mobile_normalises_to_its_eleven_digits(
    second: str, rest: str, prefix: str, frame: str
) -> None:
    mobile = "1" + second + rest
    spaced = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"

    assert fields.phone(frame.format(prefix + mobile)) == mobile
    assert fields.phone(prefix + spaced) == mobile
    assert fields.phone(f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}") == mobile


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "fen"),
    [
        ("0", 0),
        ("0.01", 1),
        ("0.1", 10),
        (".5", 50),
        ("1234", 123_400),
        ("1234.5", 123_450),
        ("1234.50", 123_450),
        ("¥1,234.50", 123_450),
        ("￥1，234.5", 123_450),
        ("1234元", 123_400),
        (" 1,234.56 元 ", 123_456),
        ("350000.50", 35_000_050),
        ("1e3", 100_000),
        ("-0", 0),
    ],
)
def test_parse_yuan_returns_exact_fen(written: str, fen: int) -> None:
    assert parse_yuan(written) == fen


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("-1", "金额不能为负：'-1'"),
        ("-0.01", "金额不能为负：'-0.01'"),
        ("1.234", "金额最多两位小数：'1.234'"),
        ("0.001", "金额最多两位小数：'0.001'"),
        ("abc", "不是金额：'abc'"),
        ("", "不是金额：''"),
        ("¥", "不是金额：'¥'"),
        ("1.2.3", "不是金额：'1.2.3'"),
        ("NaN", "不是金额：'NaN'"),
        ("nan", "不是金额：'nan'"),
        ("Infinity", "不是金额：'Infinity'"),
        ("-Infinity", "不是金额：'-Infinity'"),
        ("12 34", "不是金额：'12 34'"),
    ],
)
def test_parse_yuan_refuses(written: str, message: str) -> None:
    with pytest.raises(ValueError, match=_exactly(message)):
        parse_yuan(written)


def test_yuan_field_is_parse_yuan() -> None:
    assert fields.yuan("150,000") == 15_000_000


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "0.00"), (1, "0.01"), (123_450, "1,234.50"), (-5, "-0.05"), (100_000_000, "1,000,000.00")],
)
def test_format_yuan(fen: int, shown: str) -> None:
    assert format_yuan(fen) == shown


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**15))
def test_parse_yuan_round_trips_two_decimal_yuan(fen: int) -> None:
    plain = f"{fen // 100}.{fen % 100:02d}"

    assert parse_yuan(plain) == fen
    assert parse_yuan(format_yuan(fen)) == fen
    assert parse_yuan(f"¥{format_yuan(fen)}元") == fen


# --- tiers, choices and numbers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "tier"),
    [
        ("1", 1),
        (" 2 ", 2),
        ("3.0", 3),
        ("一级", 1),
        ("二级", 2),
        ("三", 3),
        ("一级经销商", 1),
        ("二级分销商", 2),
        ("3级", 3),
        ("T1", 1),
        ("t2", 2),
        ("T3级", 3),
        ("9", 9),
    ],
)
def test_tier(written: str, tier: int) -> None:
    assert fields.tier(written) == tier


@pytest.mark.parametrize(
    "written", ["0", "10", "-1", "1.5", "零级", "七级", "T", "级", "abc", "A级"]
)
def test_bad_tier(written: str) -> None:
    with pytest.raises(
        ValueError, match=_exactly(f"{written!r} 不是经销商级别（1/2/3 或 一级/二级/三级）")
    ):
        fields.tier(written)


def test_choice_accepts_values_labels_and_aliases_in_any_case() -> None:
    parse = fields.choice(
        Growth, {Growth.POTENTIAL: "潜力", Growth.STABLE: "稳定"}, {"上升": Growth.POTENTIAL}
    )

    assert [parse(value) for value in ("potential", "POTENTIAL", "潜力", "上升", "Stable")] == [
        Growth.POTENTIAL,
        Growth.POTENTIAL,
        Growth.POTENTIAL,
        Growth.POTENTIAL,
        Growth.STABLE,
    ]
    with pytest.raises(
        ValueError,
        match=_exactly("'火箭' 不是可选值（可选：潜力/potential、稳定/stable、declining）"),
    ):
        parse("火箭")


@pytest.mark.parametrize(
    ("written", "result"),
    [("1", 1), ("5", 5), ("3.0", 3), (" 4 ", 4)],
)
def test_integer_between(written: str, result: int) -> None:
    assert fields.integer_between(1, 5)(written) == result


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0", "0 超出范围 1–5"),
        ("6", "6 超出范围 1–5"),
        ("4.5", "'4.5' 不是整数"),
        ("abc", "'abc' 不是整数"),
        ("nan", "'nan' 不是整数"),
        ("inf", "'inf' 不是整数"),
        ("1e400", "'1e400' 不是整数"),
    ],
)
def test_integer_between_refuses(written: str, message: str) -> None:
    with pytest.raises(ValueError, match=_exactly(message)):
        fields.integer_between(1, 5)(written)


@pytest.mark.parametrize(
    ("parse", "written", "message"),
    [
        (fields.latitude, "91", "纬度 91 不在中国境内（3.0–54.0）"),
        (fields.latitude, "nan", "纬度 nan 不在中国境内（3.0–54.0）"),
        (fields.longitude, "-113.2", "经度 -113.2 不在中国境内（73.0–136.0）"),
        (fields.longitude, "东经113", "'东经113' 不是数字"),
    ],
)
def test_coordinates_refuse(parse: Callable[[str], float], written: str, message: str) -> None:
    with pytest.raises(ValueError, match=_exactly(message)):
        parse(written)


def test_coordinates_accept_china() -> None:
    assert (fields.latitude("23.13"), fields.longitude("113.26")) == (23.13, 113.26)


# --- text, ids, tags, dates --------------------------------------------------------------


def test_text_keeps_formulas_and_refuses_control_characters() -> None:
    assert fields.text("=cmd|' /C calc'!A0") == "=cmd|' /C calc'!A0"
    assert fields.identifier("S-0001/甲") == "S-0001/甲"
    # a line break inside a cell (Alt+Enter in Excel) becomes a space
    assert fields.text("天河路\n1号") == "天河路 1号"
    assert fields.text("天河路\r\n\r\n1号") == "天河路 1号"
    for bad in ("a\x00b", "a\tb", "a\x7fb"):
        with pytest.raises(ValueError, match=_exactly("含有控制字符")):
            fields.text(bad)
        with pytest.raises(ValueError, match=_exactly("编号含有控制字符")):
            fields.identifier(bad)


def test_tag_list_splits_on_every_separator_and_drops_duplicates() -> None:
    tags = fields.tag_list("宝妈;高活跃，KOL|宝妈、 团长 ,新客；复购")
    assert tags == ("宝妈", "高活跃", "KOL", "团长", "新客", "复购")
    assert fields.tag_list(" ; ;") == ()
    assert fields.tag_list("x" * 40) == ("x" * 40,)


def test_tag_list_refuses_long_tags() -> None:
    with pytest.raises(ValueError, match=_exactly(f"标签“{'长' * 20}…”超过 40 个字符")):
        fields.tag_list("ok;" + "长" * 41)


@pytest.mark.parametrize(
    ("written", "moment"),
    [
        ("2024-05-01", datetime(2024, 4, 30, 16, 0, tzinfo=UTC)),
        ("2024/05/01", datetime(2024, 4, 30, 16, 0, tzinfo=UTC)),
        ("2024-05-01 18:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T18:00:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01 18:00+00:00", datetime(2024, 5, 1, 18, 0, tzinfo=UTC)),
        ("2024-05-01 00:00:00", datetime(2024, 4, 30, 16, 0, tzinfo=UTC)),
    ],
)
def test_local_moment_reads_dates_in_the_tenant_zone(written: str, moment: datetime) -> None:
    assert fields.local_moment("Asia/Shanghai")(written) == moment


@pytest.mark.parametrize("written", ["bad", "2024-13-01", "2024-5-1", "05/01/2024"])
def test_local_moment_refuses_non_dates(written: str) -> None:
    with pytest.raises(ValueError, match=_exactly(f"{written!r} 不是日期（如 2024-05-01）")):
        fields.local_moment("Asia/Shanghai")(written)


@pytest.mark.parametrize("written", ["2024-05-01 25:00", "2024-05-011", "2024-05-01 下午"])
def test_local_moment_refuses_trailing_garbage(written: str) -> None:
    with pytest.raises(ValueError, match=_exactly(f"{written!r} 不是日期（如 2024-05-01）")):
        fields.local_moment("Asia/Shanghai")(written)
