from decimal import Decimal

from kis_fetch.quotes import signed, to_decimal


def test_to_decimal_cases() -> None:
    assert to_decimal("71500") == Decimal("71500")
    assert to_decimal("+1.26") == Decimal("1.26")
    assert to_decimal("-6.63") == Decimal("-6.63")
    assert to_decimal(" 00012 ") == Decimal("12")
    assert to_decimal("") is None
    assert to_decimal(None) is None
    assert to_decimal("abc") is None


def test_signed_applies_down_codes() -> None:
    assert signed(Decimal("365"), "5") == Decimal("-365")
    assert signed(Decimal("365"), "4") == Decimal("-365")
    assert signed(Decimal("-365"), "5") == Decimal("-365")
    assert signed(Decimal("365"), "2") == Decimal("365")
    assert signed(None, "5") is None
