"""Money is integer fen (分); yuan only at the edges."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100


def parse_yuan(text: str) -> int:
    """Return the fen in a yuan amount such as ``1234.5``, ``¥1,234.50`` or ``1234元``.

    Raise ValueError when the text is not a non-negative amount with at most two decimals.
    """
    cleaned = text.strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
    cleaned = cleaned.removesuffix("元").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as error:
        raise ValueError(f"不是金额：{text!r}") from error
    if not amount.is_finite():
        raise ValueError(f"不是金额：{text!r}")
    if amount < 0:
        raise ValueError(f"金额不能为负：{text!r}")
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"金额最多两位小数：{text!r}")
    return int(fen)


def format_yuan(fen: int) -> str:
    """Return fen as a yuan string with two decimals and thousands separators."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{yuan:,}.{cents:02d}"
