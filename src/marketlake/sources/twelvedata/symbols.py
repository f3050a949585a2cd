"""TwelveData symbol master: vendor lists (+ `/profile` where the plan allows), merged with reference files.

Why a module of its own: the lists are cheap (1 credit each, whole market) but `/profile` costs 10
credits per symbol and is refused (403) on the free plan, so the spending decisions live here, and
the shaping of the vendor rows is pure (`lists_to_frame`) so it is tested without a server.

Sources and priority (per symbol and per column, the first non-null value wins):
1. reference files, in `marketlake.sources.reference.PRIORITY` order (`sp500` > `nasdaq_listed` >
   `other_listed`): they are what the user chose to load (GICS sectors, clean names, listing venue);
2. TwelveData lists: `/stocks` (stock) > `/etfs` (etf) > `/cryptocurrencies` (crypto), with the exchange
   timezone looked up by MIC in `/exchanges`;
3. TwelveData `/profile` (sector, industry; name/country only where nothing above knows them).
So a column stays empty only when no source knows it. `metadata_source` lists the sources used.

A symbol listed on several venues (the same ticker on NASDAQ and in Mexico, say) keeps its US listing
when it has one, else the first listed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from marketlake.schema import METADATA_COLUMNS
from marketlake.sources.reference import OUTPUT_COLUMNS, load_reference, merge_reference
from marketlake.sources.twelvedata.client import TwelveDataClient
from marketlake.sources.twelvedata.wire import WireError

log = logging.getLogger(__name__)

SOURCE = "twelvedata"
PROFILE_SOURCE = "twelvedata_profile"
US = "United States"


def exchange_zones(exchanges: Iterable[dict[str, Any]]) -> dict[str, str]:
    """MIC code (and exchange name) -> IANA timezone, from `/exchanges` rows."""
    zones: dict[str, str] = {}
    for row in exchanges:
        tz = row.get("timezone")
        if not tz:
            continue
        for key in (row.get("code"), row.get("name")):
            if key:
                zones.setdefault(str(key).upper(), str(tz))
    return zones


def _blank(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def lists_to_frame(
    *,
    stocks: Sequence[dict[str, Any]] = (),
    etfs: Sequence[dict[str, Any]] = (),
    cryptos: Sequence[dict[str, Any]] = (),
    exchanges: Sequence[dict[str, Any]] = (),
) -> pd.DataFrame:
    """Vendor list rows -> one row per symbol with `OUTPUT_COLUMNS` (pure)."""
    zones = exchange_zones(exchanges)
    rows: list[dict[str, Any]] = []
    for kind, items in (("stock", stocks), ("etf", etfs)):
        for r in items:
            mic, exch = _blank(r.get("mic_code")), _blank(r.get("exchange"))
            asset = "etf" if kind == "etf" or "etf" in str(r.get("type") or "").lower() else "stock"
            rows.append({
                "symbol": r.get("symbol"), "name": _blank(r.get("name")), "asset_type": asset,
                "exchange": exch, "mic_code": mic, "currency": _blank(r.get("currency")),
                "country": _blank(r.get("country")),
                "exchange_timezone": zones.get(str(mic or "").upper()) or zones.get(str(exch or "").upper()),
            })
    for r in cryptos:
        venues = r.get("available_exchanges") or []
        base, quote = _blank(r.get("currency_base")), _blank(r.get("currency_quote"))
        rows.append({
            "symbol": r.get("symbol"), "name": f"{base} / {quote}" if base and quote else base,
            "asset_type": "crypto", "exchange": venues[0] if venues else None, "currency": quote,
            "exchange_timezone": "UTC",
        })
    frame = pd.DataFrame(rows, columns=[c for c in OUTPUT_COLUMNS if c != "metadata_source"])
    frame = frame[frame["symbol"].fillna("").astype(str) != ""]
    # one row per symbol: the US listing first (stable sort keeps list order otherwise)
    frame = frame.assign(_us=(frame["country"] != US)).sort_values("_us", kind="stable").drop(columns="_us")
    frame = frame.drop_duplicates("symbol", keep="first")
    frame["metadata_source"] = SOURCE
    return frame.astype(object).where(frame.notna(), None).reset_index(drop=True)[list(OUTPUT_COLUMNS)]


def profiles_frame(client: TwelveDataClient, symbols: Sequence[str]) -> pd.DataFrame:
    """Sector/industry from `/profile` (10 credits each). A 403 (plan lacks it) stops quietly."""
    rows = []
    for s in symbols:
        answer = client.profile(s)
        if isinstance(answer, WireError):
            if answer.code == 403:
                log.info("twelvedata /profile not in this plan: sector/industry left to other sources")
                break
            continue  # unknown symbol etc.: nothing to add
        rows.append({"symbol": s, "name": _blank(answer.get("name")), "exchange": _blank(answer.get("exchange")),
                     "mic_code": _blank(answer.get("mic_code")), "country": _blank(answer.get("country")),
                     "sector": _blank(answer.get("sector")), "industry": _blank(answer.get("industry"))})
    frame = pd.DataFrame(rows, columns=[c for c in OUTPUT_COLUMNS if c != "metadata_source"])
    frame["metadata_source"] = PROFILE_SOURCE
    return frame[list(OUTPUT_COLUMNS)]


def merge_master(reference: Sequence[pd.DataFrame], vendor: pd.DataFrame, profiles: pd.DataFrame | None = None) -> pd.DataFrame:
    """Reference frames > vendor lists > profiles, per column (see the module docstring)."""
    frames = [f for f in reference if len(f)] + [f for f in (vendor, profiles) if f is not None and len(f)]
    return merge_reference(frames)


def vendor_metadata(
    client: TwelveDataClient,
    symbols: Sequence[str] | None = None,
    *,
    reference: Sequence[str | Path | pd.DataFrame] = (),
    profile: bool = True,
) -> pd.DataFrame:
    """The symbol master (`symbol` + METADATA_COLUMNS + `metadata_source`), one row per symbol.

    Args:
        client: budgeted TwelveData client (4 credits for the lists, 10 per profiled symbol).
        symbols: restrict to these (None: every listed symbol; `/profile` is then never called).
        reference: reference files (paths or frames from `load_reference`) merged in, with priority.
        profile: call `/profile` for the requested stocks/ETFs that still lack a sector.
    """
    vendor = lists_to_frame(stocks=client.stocks(), etfs=client.etfs(), cryptos=client.cryptocurrencies(),
                            exchanges=client.exchanges())
    refs = [r if isinstance(r, pd.DataFrame) else load_reference(r) for r in reference]
    wanted = list(dict.fromkeys(symbols)) if symbols else None
    if wanted is not None:
        vendor = vendor[vendor["symbol"].isin(wanted)]
        refs = [r[r["symbol"].isin(wanted)] for r in refs]
    profiles = None
    if profile and wanted:
        merged = merge_master(refs, vendor)
        need = merged[merged["asset_type"].isin(["stock", "etf"]) & merged["sector"].isna()]["symbol"].tolist()
        if need:
            profiles = profiles_frame(client, need)
    out = merge_master(refs, vendor, profiles)
    return out[["symbol", *METADATA_COLUMNS, "metadata_source"]]


__all__ = ["exchange_zones", "lists_to_frame", "merge_master", "profiles_frame", "vendor_metadata"]
