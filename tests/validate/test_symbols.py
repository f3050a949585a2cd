"""Symbol validation: real tickers pass, hostile symbols are quarantined as `invalid_symbol`."""

from __future__ import annotations

import pandas as pd
import pytest

from marketlake.schema import BAR_COLUMNS, get_table
from marketlake.validate import validate_bars
from marketlake.validate.rules import SYMBOL_PATTERN, symbol_is_valid

DAILY = get_table("stocks_daily_clean")
OPEN = "2024-07-03 13:30:00+00:00"
VALID = ["BRK.B", "BF-B", "BTC/USD", "^GSPC", "ES=F", "EUR:USD", "A", "SPY", "X_1", "A" * 32, "7203"]
HOSTILE = ["AA\nPL", "AA\x00", "AB\u202eC", "A'B", 'A"B', "A" * 33, "A B", "A;DROP", "A\tB", "A\u200bB",
           "Ä", "A`B", "A\\B", "<A>", "A,B", "A\rB", "\u2066AB"]


def frame(symbols: list[str]) -> pd.DataFrame:
    rows = [(s, OPEN, 10.0, 11.0, 9.0, 10.5, 100.0) for s in symbols]
    out = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    out["datetime"] = pd.to_datetime(out["datetime"], utc=True)
    return out


@pytest.mark.parametrize("symbol", VALID)
def test_real_tickers_are_valid(symbol: str) -> None:
    assert symbol_is_valid(symbol)
    res = validate_bars(frame([symbol]), DAILY, source="test")
    assert res.counts["good"] == 1 and res.good["symbol"].tolist() == [symbol]


@pytest.mark.parametrize("symbol", HOSTILE)
def test_hostile_symbols_are_quarantined(symbol: str) -> None:
    assert not symbol_is_valid(symbol)
    res = validate_bars(frame([symbol, "SPY"]), DAILY, source="test")
    assert res.good["symbol"].tolist() == ["SPY"]
    q = res.quarantined.to_pylist()
    assert [r["rule"] for r in q] == ["invalid_symbol"] and res.counts["invalid_symbol"] == 1
    assert "symbol" in q[0]["reason"] and "1 to 32" in q[0]["reason"]


def test_empty_symbol_stays_missing_value() -> None:
    res = validate_bars(frame([""]), DAILY, source="test")
    assert res.quarantined.to_pylist()[0]["rule"] == "missing_value"


def test_pattern_is_anchored_and_ascii() -> None:
    # an oracle independent of the regex: the documented alphabet and length
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-/^=:_")
    for s in VALID + HOSTILE:
        assert symbol_is_valid(s) == (1 <= len(s) <= 32 and set(s) <= alphabet), s
    assert SYMBOL_PATTERN.startswith("^") and SYMBOL_PATTERN.endswith("$")
