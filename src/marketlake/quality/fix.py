"""`quality --fix`: repair what can be repaired, and say what cannot.

- unexplained NULLs -> recompute the symbol's 97 fields from its stored bars (with its benchmark and
  sector peers, as the pipeline does) and upsert them;
- missing bars and unadjusted splits -> re-fetch the symbol's bars from the source recorded in its
  `source` column and load them through the pipeline (validation, features, one commit); only sources
  that can be re-fetched (synthetic, twelvedata) qualify, files cannot;
- missing metadata -> enrich from reference files (S&P 500, NASDAQ Trader) and reload the symbol.
Every repair (or refusal) becomes an issue of check `repair`, stored with the run. The runner re-checks
afterwards and marks only the issues that are really gone as fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.errors import MarketlakeError
from marketlake.quality.issues import Issue, QualityConfig
from marketlake.schema import BAR_COLUMNS, METADATA_COLUMNS, TableSpec, get_table
from marketlake.storage import DeltaStore

Key = tuple[str, str, "str | None", "str | None"]
REFETCHABLE = ("synthetic", "twelvedata")
DEFAULT_SOURCE_OPTIONS: dict[str, dict[str, Any]] = {"synthetic": {"stocks": 5000, "crypto": 500}}


def _note(table: str, symbol: str | None, what: str, detail: str, *, ok: bool) -> Issue:
    return Issue("repair", "info" if ok else "warning", table, symbol, what, detail)


def _sources(store: DeltaStore, table: str, symbols: list[str]) -> dict[str, str | None]:
    got = store.read(table, symbols=symbols, columns=["symbol", "source"]).to_pandas()
    out: dict[str, str | None] = {s: None for s in symbols}
    for sym, grp in got.groupby("symbol"):
        vals = grp["source"].dropna()
        out[str(sym)] = str(vals.mode().iloc[0]) if not vals.empty else None
    return out


def recompute(store: DeltaStore, spec: TableSpec, symbols: list[str], *, now: datetime | None = None) -> int:
    """Recompute the 97 fields of `symbols` from their stored bars; returns rows written."""
    from marketlake.features import compute_table

    index = store.read(spec.name, columns=["symbol", "sector"]).to_pandas().drop_duplicates("symbol", keep="last")
    sectors = set(index.loc[index["symbol"].isin(symbols), "sector"].dropna())
    peers = set(index.loc[index["sector"].isin(sectors), "symbol"])
    needed = sorted(set(symbols) | peers | ({spec.default_benchmark} & set(index["symbol"])))
    bars = store.read(spec.name, symbols=needed, columns=[*BAR_COLUMNS, "source", *METADATA_COLUMNS]).to_pandas()
    rows = compute_table(bars, spec, updated_at=now or datetime.now(UTC))
    rows = rows.filter(pc.is_in(rows.column("symbol"), pa.array(sorted(symbols), pa.string())))
    result = store.write_bars(spec.name, rows)
    return result.inserted + result.updated


def refetch(store: DeltaStore, spec: TableSpec, symbol: str, source: str, *, start: datetime | None,
            end: datetime | None, config: QualityConfig) -> str:
    """Re-fetch `symbol`'s bars in [start, end] from `source` and load them through the pipeline."""
    from marketlake.pipeline import load_bars
    from marketlake.sources.registry import get_source

    opts = {**DEFAULT_SOURCE_OPTIONS.get(source, {}), **dict(config.source_options.get(source, {}))}
    src = get_source(source, **opts)
    bars, metas = [], []
    for batch in src.fetch([symbol], spec, start=start, end=end):
        bars.append(batch.bars)
        if batch.metadata is not None:
            metas.append(batch.metadata)
    if not bars or sum(len(b) for b in bars) == 0:
        return f"{source} returned no bars for {symbol}"
    raw = pd.concat(bars, ignore_index=True)
    meta = pd.concat(metas, ignore_index=True) if metas else None
    report = load_bars(store, spec, raw, source=source, metadata=meta)
    return f"re-fetched {len(raw)} bars from {source}: {report.inserted} inserted, {report.updated} updated"


def _reference(config: QualityConfig) -> pd.DataFrame | None:
    if not config.reference_paths:
        return None
    from marketlake.sources.reference import load_reference, merge_reference

    return merge_reference([load_reference(p) for p in config.reference_paths]).set_index("symbol")


def enrich(store: DeltaStore, spec: TableSpec | None, symbols: list[str], reference: pd.DataFrame) -> list[str]:
    """Fill metadata gaps of `symbols` from `reference` (bars reloaded, master upserted); returns those done."""
    known = [s for s in symbols if s in reference.index]
    if not known:
        return []
    if spec is not None:
        from marketlake.pipeline import load_bars

        stored = store.read(spec.name, symbols=known, columns=[*BAR_COLUMNS, "source", *METADATA_COLUMNS]).to_pandas()
        for source, grp in stored.groupby("source", dropna=False):
            meta = grp.drop_duplicates("symbol", keep="last").set_index("symbol")[list(METADATA_COLUMNS)]
            ref = reference.reindex(meta.index)[list(METADATA_COLUMNS)]
            meta = meta.astype(object).where(meta.notna(), ref.astype(object)).reset_index()
            load_bars(store, spec, grp[list(BAR_COLUMNS)].reset_index(drop=True),
                      source=str(source) if isinstance(source, str) else "unknown", metadata=meta)
    master = store.read_support("symbols").to_pandas()
    rows = master[master["symbol"].isin(known)].set_index("symbol")
    if not rows.empty:
        ref = reference.reindex(rows.index)
        for col in METADATA_COLUMNS:
            rows[col] = rows[col].astype(object).where(rows[col].notna(), ref[col].astype(object))
        store.upsert_support("symbols", pa.Table.from_pandas(rows.reset_index(), preserve_index=False),
                            keys=["symbol"])
    return known


def repair(store: DeltaStore, issues: list[Issue], config: QualityConfig, *,
           progress: Callable[[str], None] | None = None) -> tuple[list[Issue], set[Key]]:
    """Apply the repairs the issues call for; returns the repair log and the issue keys attempted."""
    say = progress or (lambda _m: None)
    log: list[Issue] = []
    attempted: set[Key] = set()
    by: dict[tuple[str, str], list[Issue]] = defaultdict(list)
    for i in issues:
        by[(i.check, i.table)].append(i)

    for (check, table), items in sorted(by.items()):
        if check != "nulls":
            continue
        spec = get_table(table)
        symbols = sorted({i.symbol for i in items if i.symbol})
        say(f"recomputing {len(symbols)} symbols of {table}")
        try:
            n = recompute(store, spec, symbols)
            attempted |= {i.key for i in items}
            log += [_note(table, s, "nulls", f"recomputed features ({n} rows rewritten in the table)", ok=True)
                    for s in symbols]
        except MarketlakeError as exc:
            log.append(_note(table, None, "nulls", f"recompute failed: {exc}", ok=False))

    for (check, table), items in sorted(by.items()):
        if check not in ("missing_bars", "split"):
            continue
        spec = get_table(table)
        todo = [i for i in items if i.symbol and not (check == "missing_bars" and i.field == "datetime")]
        known = [i for i in todo if check == "split" and i.detail.startswith("known ")]
        if known:  # a confirmed split not applied yet: apply it (every table, one commit each)
            from marketlake.actions.quality import apply_known

            applied = apply_known(store, {i.symbol for i in known if i.symbol})
            attempted |= {i.key for i in known}
            log += [_note(table, i.symbol, check, f"applied the known split ({', '.join(applied.applied) or 'done'})",
                          ok=True) for i in known]
            todo = [i for i in todo if i not in known]
        if not todo:
            continue
        sources = _sources(store, table, sorted({i.symbol for i in todo if i.symbol}))
        for i in todo:
            src = sources.get(i.symbol or "")
            if src not in REFETCHABLE:
                log.append(_note(table, i.symbol, check, f"not repairable: source {src!r} cannot be re-fetched "
                                 f"(re-import the file or load it from {', '.join(REFETCHABLE)})", ok=False))
                continue
            start = end = None
            if check == "missing_bars" and i.first_datetime and i.last_datetime:
                start, end = i.first_datetime - spec.bar_interval, i.last_datetime + spec.bar_interval
            else:
                bounds = store.read(table, symbols=[i.symbol or ""], columns=["datetime"]).column("datetime")
                start, end = pc.min(bounds).as_py(), pc.max(bounds).as_py() + timedelta(seconds=1)
            say(f"re-fetching {i.symbol} of {table} from {src}")
            try:
                detail = refetch(store, spec, i.symbol or "", src, start=start, end=end, config=config)
                attempted.add(i.key)
                log.append(_note(table, i.symbol, check, detail, ok=True))
            except MarketlakeError as exc:
                log.append(_note(table, i.symbol, check, f"re-fetch failed: {exc}", ok=False))

    meta = [i for i in issues if i.check == "metadata" and i.symbol]
    if meta:
        reference = _reference(config)
        tables = sorted({i.table for i in meta})
        for table in tables:
            items = [i for i in meta if i.table == table]
            symbols = sorted({i.symbol for i in items if i.symbol})
            if reference is None:
                log.append(_note(table, None, "metadata", "not repairable without reference files "
                                 "(pass --reference PATH, e.g. sp500_constituents.csv)", ok=False))
                continue
            try:
                done = set(enrich(store, None if table == "symbols" else get_table(table), symbols, reference))
            except MarketlakeError as exc:
                log.append(_note(table, None, "metadata", f"enrichment failed: {exc}", ok=False))
                continue
            attempted |= {i.key for i in items if i.symbol in done}
            for s in symbols:
                log.append(_note(table, s, "metadata", "enriched from reference data" if s in done
                                 else "not repairable: symbol not in the reference data", ok=s in done))
    return log, attempted


__all__ = ["REFETCHABLE", "enrich", "recompute", "refetch", "repair"]
