"""TwelveData `/splits` and `/dividends` (20 credits per symbol each; Grow plan and above).

Wire format (public docs, twelvedata.com/docs, "Splits" and "Dividends"):
`{"meta": {"symbol", "name", "currency", "exchange", "mic_code", "exchange_timezone"},
  "splits": [{"date": "2020-08-31", "description": "4-for-1 split", "ratio": 4, "from_factor": 1,
              "to_factor": 4}]}`
`{"meta": {...}, "dividends": [{"ex_date": "2022-05-06", "amount": 0.23}]}`
Without a date range both answer only the latest event (`range` defaults to `last`), so we always ask
for `range=full` or a start date. Errors arrive as elsewhere (`{"status": "error", "code": ...}`; 403
when the plan lacks the endpoint). Parsed into plain records: `sources/` knows nothing of storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from marketlake.errors import VendorError
from marketlake.sources.twelvedata.client import VENDOR, TwelveDataClient
from marketlake.sources.twelvedata.wire import WireError, is_error

_FOR = re.compile(r"(\d+(?:\.\d+)?)\s*-\s*for\s*-\s*(\d+(?:\.\d+)?)", re.I)


@dataclass(frozen=True)
class VendorSplit:
    symbol: str
    date: date
    from_factor: float
    to_factor: float
    description: str | None = None


@dataclass(frozen=True)
class VendorDividend:
    symbol: str
    ex_date: date
    amount: float
    currency: str | None = None


def _params(symbol: str, start: date | None) -> dict[str, str]:
    out = {"symbol": symbol}
    if start is not None:
        out["start_date"] = start.isoformat()
    else:
        out["range"] = "full"
    return out


def _body(client: TwelveDataClient, path: str, symbol: str, start: date | None) -> dict[str, Any] | WireError:
    body = client.request(path, _params(symbol, start), soft_auth=True)
    if not isinstance(body, dict):
        raise VendorError(f"TwelveData {path} for {symbol} answered something other than an object",
                          vendor=VENDOR)
    return WireError.parse(body) if is_error(body) else body


def parse_splits(symbol: str, body: dict[str, Any]) -> list[VendorSplit]:
    """Split rows; a row without a positive from/to pair is skipped. Where the description says "a-for-b"
    it decides the direction (a new shares for b old), whichever way the two factors were sent."""
    out = []
    for row in body.get("splits") or []:
        try:
            f, t = float(row["from_factor"]), float(row["to_factor"])
            day = date.fromisoformat(str(row["date"])[:10])
        except (KeyError, TypeError, ValueError):
            continue
        described = _FOR.search(str(row.get("description") or ""))
        if described and {f, t} == {float(described.group(1)), float(described.group(2))}:
            t, f = float(described.group(1)), float(described.group(2))  # "4-for-1": 1 old share -> 4 new
        if f > 0 and t > 0 and f != t:
            out.append(VendorSplit(symbol, day, f, t, row.get("description")))
    return out


def parse_dividends(symbol: str, body: dict[str, Any]) -> list[VendorDividend]:
    currency = (body.get("meta") or {}).get("currency") or None
    out = []
    for row in body.get("dividends") or []:
        try:
            amount = float(row["amount"])
            day = date.fromisoformat(str(row.get("ex_date") or row["payment_date"])[:10])
        except (KeyError, TypeError, ValueError):
            continue
        if amount > 0:
            out.append(VendorDividend(symbol, day, amount, currency))
    return out


def splits(client: TwelveDataClient, symbol: str, *, start: date | None = None) -> list[VendorSplit] | WireError:
    """The symbol's splits since `start` (all when None), or the vendor's error (404, 403 plan)."""
    body = _body(client, "/splits", symbol, start)
    return body if isinstance(body, WireError) else parse_splits(symbol, body)


def dividends(client: TwelveDataClient, symbol: str, *,
              start: date | None = None) -> list[VendorDividend] | WireError:
    """The symbol's cash dividends since `start` (all when None), or the vendor's error."""
    body = _body(client, "/dividends", symbol, start)
    return body if isinstance(body, WireError) else parse_dividends(symbol, body)


__all__ = ["VendorDividend", "VendorSplit", "dividends", "parse_dividends", "parse_splits", "splits"]
