"""`quality --fix`: repair what can be repaired, and say what cannot.

- unexplained NULLs -> recompute the symbol's 97 fields from its stored bars (with its benchmark and
  sector peers, as the pipeline does) and upsert them;
- missing bars -> re-fetch each gap from the source of the stored bars on BOTH sides of it, and load
  them through the pipeline (validation, features, one commit); only sources that can be re-fetched
  (`sources.registry.refetchable()`: synthetic and the refetchable vendors) qualify, files cannot, and synthetic bars never enter a series that has bars
  of another source (a real SPY with a gap is not padded with made-up prices);
- unadjusted splits -> re-backfill the whole series, only when all its bars share one re-fetchable source;
- missing metadata -> enrich from reference files (S&P 500, NASDAQ Trader) and reload the symbol.
`plan_repairs` only reads and returns the plan (`quality --fix` prints it); `apply_repairs` carries it out
(`quality --fix --yes`). Every applied repair (or refusal) becomes an issue of check `repair`, stored
with the run in `quality_issues`. The runner re-checks afterwards and marks only the issues that are
really gone as fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.errors import MarketlakeError
from marketlake.frames import concat_rows
from marketlake.quality.issues import Issue, QualityConfig
from marketlake.schema import BAR_COLUMNS, METADATA_COLUMNS, TableSpec, get_table
from marketlake.storage import DeltaStore

Key = tuple[str, str, "str | None", "str | None"]

def refetchable() -> tuple[str, ...]:
    """Sources a gap can be re-fetched from: asked of the registry (synthetic, and every refetchable vendor)."""
    from marketlake.sources.registry import refetchable as registered

    return tuple(registered())


DEFAULT_SOURCE_OPTIONS: dict[str, dict[str, Any]] = {"synthetic": {"stocks": 5000, "crypto": 500}}


def _note(table: str, symbol: str | None, what: str, detail: str, *, ok: bool) -> Issue:
    return Issue("repair", "info" if ok else "warning", table, symbol, what, detail)


def recompute(store: DeltaStore, spec: TableSpec, symbols: list[str], *, now: datetime | None = None) -> int:
    """Recompute the 97 fields of `symbols` from their stored bars; returns rows written."""
    with store.writer_lock():  # read..commit: an ingest landing in between would be reverted
        return _recompute(store, spec, symbols, now=now)


def _recompute(store: DeltaStore, spec: TableSpec, symbols: list[str], *, now: datetime | None) -> int:
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
    raw = concat_rows(bars, ignore_index=True)
    meta = concat_rows(metas, ignore_index=True) if metas else None
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
    with store.writer_lock():  # read..commit, for the bars and for the master
        _enrich(store, spec, known, reference)
    return known


def _enrich(store: DeltaStore, spec: TableSpec | None, known: list[str], reference: pd.DataFrame) -> None:
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


@dataclass
class Planned:
    """One repair of the plan: what would be done (or why it cannot be), before anything is written.

    `action` is "recompute", "refetch", "apply_split", "enrich" or "refuse"; `keys` are the issue keys it
    addresses.
    """

    action: str
    check: str
    table: str
    symbols: tuple[str, ...]
    detail: str
    source: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    keys: set[Key] = field(default_factory=set)

    def as_issue(self, detail: str | None = None, *, ok: bool = True) -> Issue:
        sym = self.symbols[0] if len(self.symbols) == 1 else None
        return _note(self.table, sym, self.check, detail or self.detail, ok=ok and self.action != "refuse")


def _to_ns(col: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(col, pa.timestamp("ns", "UTC")).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _ns_dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def gap_plan(store: DeltaStore, spec: TableSpec, issue: Issue) -> list[Planned]:
    """Re-fetch ranges for one symbol's missing bars, from the source of the bars around each gap.

    A gap (missing calendar stamps between two stored bars) is re-fetchable only when the bars on
    both sides come from the same re-fetchable source; gaps between bars of one source merge into
    one range. Synthetic bars are never fetched into a symbol that has bars of any other source,
    so a real series is never padded with made-up prices.
    """
    from marketlake.validate.grid import grid_between

    sym = issue.symbol or ""
    got = store.read(spec.name, symbols=[sym], columns=["datetime", "source"])
    ts = _to_ns(got.column("datetime"))
    src = np.array([s if s is not None else "" for s in got.column("source").to_pylist()], dtype=object)
    if ts.size < 2:
        return []
    grid = grid_between(spec, int(ts[0]), int(ts[-1]))
    missing = np.setdiff1d(grid, ts)
    if missing.size == 0:
        return []
    after = np.unique(np.searchsorted(ts, missing))  # row after each gap; the row before is after - 1
    seg = np.r_[0, np.cumsum(src[1:] != src[:-1])]
    sources = set(src.tolist())
    out: list[Planned] = []
    refused: dict[str, int] = defaultdict(int)
    ok_runs: dict[int, list[int]] = defaultdict(list)
    for p in after.tolist():
        a, b = str(src[p - 1]), str(src[p])
        if a != b:
            refused[f"the bars around it come from different sources ({a or 'unknown'!r} before, "
                    f"{b or 'unknown'!r} after)"] += 1
        elif a not in refetchable():
            refused[f"source {a or 'unknown'!r} cannot be re-fetched (re-import the file or load it "
                    f"from {', '.join(refetchable())})"] += 1
        elif a == "synthetic" and sources != {"synthetic"}:
            refused["synthetic bars are never fetched into a series with bars of another source "
                    f"({', '.join(sorted(s or 'unknown' for s in sources - {'synthetic'}))})"] += 1
        else:
            ok_runs[int(seg[p])].append(p)
    for runs in ok_runs.values():
        lo, hi = min(runs) - 1, max(runs)
        n = int(np.count_nonzero((missing > ts[lo]) & (missing < ts[hi])))
        source = str(src[lo])
        out.append(Planned("refetch", issue.check, spec.name, (sym,),
                           f"re-fetch {n} missing bars {_ns_dt(int(ts[lo])):%Y-%m-%d %H:%M}.."
                           f"{_ns_dt(int(ts[hi])):%Y-%m-%d %H:%M} from {source} (the source of the bars "
                           "around the gap)", source=source, start=_ns_dt(int(ts[lo])), end=_ns_dt(int(ts[hi])),
                           keys={issue.key}))
    for why, n in refused.items():
        out.append(Planned("refuse", issue.check, spec.name, (sym,), f"not repairable: {n} gap(s): {why}"))
    return out


def split_plan(store: DeltaStore, spec: TableSpec, issue: Issue) -> Planned:
    """Re-backfill a suspected split from the symbol's source: only when all its bars share one source."""
    sym = issue.symbol or ""
    got = store.read(spec.name, symbols=[sym], columns=["datetime", "source"])
    sources = {s or "" for s in got.column("source").to_pylist()}
    if len(sources) != 1 or next(iter(sources)) not in refetchable():
        names = ", ".join(sorted(s or "unknown" for s in sources))
        return Planned("refuse", issue.check, spec.name, (sym,),
                       f"not repairable: bars from {names}; re-backfill needs one re-fetchable source "
                       f"({', '.join(refetchable())}) for the whole series")
    source = next(iter(sources))
    start = pc.min(got.column("datetime")).as_py()
    end = pc.max(got.column("datetime")).as_py() + timedelta(seconds=1)
    return Planned("refetch", issue.check, spec.name, (sym,),
                   f"re-backfill {got.num_rows} bars {start:%Y-%m-%d}..{end:%Y-%m-%d} from {source}",
                   source=source, start=start, end=end, keys={issue.key})


def plan_repairs(store: DeltaStore, issues: list[Issue], config: QualityConfig) -> list[Planned]:
    """The repairs the issues call for, in the order they would be applied; reads only, writes nothing."""
    plan: list[Planned] = []
    by: dict[tuple[str, str], list[Issue]] = defaultdict(list)
    for i in issues:
        by[(i.check, i.table)].append(i)
    for (check, table), items in sorted(by.items()):
        if check != "nulls":
            continue
        symbols = tuple(sorted({i.symbol for i in items if i.symbol}))
        plan.append(Planned("recompute", check, table, symbols,
                            f"recompute the features of {len(symbols)} symbol(s): {', '.join(symbols[:10])}"
                            + (" ..." if len(symbols) > 10 else ""), keys={i.key for i in items}))
    for (check, table), items in sorted(by.items()):
        if check not in ("missing_bars", "split"):
            continue
        spec = get_table(table)
        todo = [i for i in items if i.symbol and not (check == "missing_bars" and i.field == "datetime")]
        known = [i for i in todo if check == "split" and i.detail.startswith("known ")]
        if known:  # a confirmed split not applied yet: apply it (every table, one commit each)
            names = tuple(sorted({i.symbol for i in known if i.symbol}))
            plan.append(Planned("apply_split", check, table, names,
                                f"apply the known split(s) of {', '.join(names)} to every table",
                                keys={i.key for i in known}))
        for i in todo:
            if i in known:
                continue
            plan += gap_plan(store, spec, i) if check == "missing_bars" else [split_plan(store, spec, i)]
    meta = [i for i in issues if i.check == "metadata" and i.symbol]
    if meta:
        reference = _reference(config)
        for table in sorted({i.table for i in meta}):
            items = [i for i in meta if i.table == table]
            wanted = sorted({i.symbol for i in items if i.symbol})
            if reference is None:
                plan.append(Planned("refuse", "metadata", table, (), "not repairable without reference files: run "
                                    "`marketlake symbols load` (the bars follow the master) or pass --reference PATH"))
                continue
            listed = tuple(s for s in wanted if s in reference.index)
            if listed:
                plan.append(Planned("enrich", "metadata", table, listed,
                                    f"fill metadata of {len(listed)} symbol(s) from reference data",
                                    keys={i.key for i in items if i.symbol in listed}))
            plan += [Planned("refuse", "metadata", table, (s,), "not repairable: symbol not in the reference data")
                     for s in wanted if s not in listed]
    return plan


def apply_repairs(store: DeltaStore, plan: list[Planned], config: QualityConfig, *,
                  progress: Callable[[str], None] | None = None) -> tuple[list[Issue], set[Key]]:
    """Apply a plan; returns the repair log (one `repair` issue per applied or refused repair) and the keys tried."""
    say = progress or (lambda _m: None)
    log: list[Issue] = []
    attempted: set[Key] = set()
    reference = _reference(config) if any(p.action == "enrich" for p in plan) else None
    for p in plan:
        if p.action == "refuse":
            log.append(p.as_issue())
            continue
        try:
            if p.action == "recompute":
                say(f"recomputing {len(p.symbols)} symbols of {p.table}")
                n = recompute(store, get_table(p.table), list(p.symbols))
                log += [_note(p.table, s, p.check, f"recomputed features ({n} rows rewritten in the table)", ok=True)
                        for s in p.symbols]
            elif p.action == "refetch":
                say(f"re-fetching {p.symbols[0]} of {p.table} from {p.source}")
                detail = refetch(store, get_table(p.table), p.symbols[0], p.source or "", start=p.start,
                                 end=p.end, config=config)
                log.append(p.as_issue(f"{p.detail}: {detail}"))
            elif p.action == "apply_split":
                from marketlake.actions.quality import apply_known

                say(f"applying the known splits of {', '.join(p.symbols)}")
                applied = apply_known(store, set(p.symbols))
                log += [_note(p.table, s, p.check, f"applied the known split ({', '.join(applied.applied) or 'done'})",
                              ok=True) for s in p.symbols]
            elif p.action == "enrich" and reference is not None:
                spec = None if p.table == "symbols" else get_table(p.table)
                done = set(enrich(store, spec, list(p.symbols), reference))
                log += [_note(p.table, s, "metadata", "enriched from reference data", ok=True) for s in sorted(done)]
            attempted |= p.keys
        except MarketlakeError as exc:
            log.append(p.as_issue(f"{p.action} failed: {exc}", ok=False))
    return log, attempted


def repair(store: DeltaStore, issues: list[Issue], config: QualityConfig, *,
           progress: Callable[[str], None] | None = None) -> tuple[list[Issue], set[Key]]:
    """Plan and apply the repairs the issues call for; returns the repair log and the issue keys attempted."""
    return apply_repairs(store, plan_repairs(store, issues, config), config, progress=progress)


__all__ = ["Planned", "apply_repairs", "enrich", "gap_plan", "plan_repairs", "recompute", "refetchable",
           "refetch", "repair", "split_plan"]
