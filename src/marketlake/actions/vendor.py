"""Corporate actions from TwelveData's `/splits` and `/dividends`: 40 credits per symbol, budgeted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from marketlake.actions.records import Action
from marketlake.sources.twelvedata.actions import dividends, splits
from marketlake.sources.twelvedata.client import CREDITS, TwelveDataClient
from marketlake.sources.twelvedata.wire import WireError

CREDITS_PER_SYMBOL = CREDITS["/splits"] + CREDITS["/dividends"]


def fetch_twelvedata(client: TwelveDataClient, symbols: Sequence[str], *, start: date | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[list[Action], dict[str, str]]:
    """Splits and dividends of `symbols` as actions (source `twelvedata`), and per-symbol vendor errors."""
    say = progress or (lambda _m: None)
    out: list[Action] = []
    errors: dict[str, str] = {}
    for symbol in symbols:
        say(f"twelvedata /splits and /dividends for {symbol} ({CREDITS_PER_SYMBOL} credits)")
        got_splits = splits(client, symbol, start=start)
        if isinstance(got_splits, WireError):
            errors[symbol] = f"/splits {got_splits.code}: {got_splits.message}"[:300]
            continue
        out += [Action(symbol=s.symbol, kind="split", date=s.date, from_factor=s.from_factor, to_factor=s.to_factor,
                       source="twelvedata", detail=s.description) for s in got_splits]
        got_divs = dividends(client, symbol, start=start)
        if isinstance(got_divs, WireError):
            errors[symbol] = f"/dividends {got_divs.code}: {got_divs.message}"[:300]
            continue
        out += [Action(symbol=d.symbol, kind="dividend", date=d.ex_date, amount=d.amount, currency=d.currency,
                       source="twelvedata") for d in got_divs]
    return out, errors


__all__ = ["CREDITS_PER_SYMBOL", "fetch_twelvedata"]
