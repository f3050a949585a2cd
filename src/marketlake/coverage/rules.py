"""Universe rules over the warehouse: the top N symbols of a table by a liquidity measure.

How the original design picks its hourly and 1-minute tiers ("volume leaders", "most active"): rank
the symbols of `stocks_daily_clean` by the median of their last 20 bars' dollar volume and cover the top
N. Two properties matter for a plan that runs every day:

- stable between re-ranks: the chosen membership is persisted in the `coverage_members` support table
  and reused until the rule's `rerank` period has passed (or the rule itself changed);
- hysteresis at a re-rank: a member stays while it ranks within `n * (1 + hysteresis)`; the places left
  go to the best-ranked newcomers. Without it, names around the cut churn every week, and every churn
  costs a backfill and leaves a truncated history behind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from marketlake.coverage.model import UniverseRule
from marketlake.schema import SUPPORT_SCHEMAS, TABLES

if TYPE_CHECKING:
    from marketlake.storage import DeltaStore

RERANK_PERIOD = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "monthly": timedelta(days=30)}
WINDOW_BARS = 20
_COLUMN = {"median_dollar_volume_20": "dollar_volume", "median_volume_20": "volume"}


def rank_symbols(store: DeltaStore, rule: UniverseRule, *, now: datetime,
                 among: Sequence[str] | None = None) -> list[tuple[str, float]]:
    """(symbol, measure) best first: the median of each symbol's last 20 bars of `rule.by`'s column.

    Reads only the recent window of the source table (three times the 20 bars, plus a week for holidays).
    """
    spec = TABLES[rule.from_table]
    if not store.exists(spec.name):
        return []
    column = _COLUMN[rule.by]
    start = now - 3 * WINDOW_BARS * spec.bar_interval - timedelta(days=7)
    data = store.read(spec.name, symbols=list(among) if among else None, start=start,
                      columns=["symbol", "datetime", column])
    if data.num_rows == 0:
        return []
    frame = data.to_pandas().dropna(subset=[column]).sort_values(["symbol", "datetime"])
    medians = frame.groupby("symbol")[column].apply(lambda s: float(s.tail(WINDOW_BARS).median()))
    ranked = sorted(((str(s), float(v)) for s, v in medians.items() if not math.isnan(v)),
                    key=lambda sv: (-sv[1], sv[0]))
    return ranked


def choose_members(ranked: Sequence[str], incumbents: Sequence[str], n: int, hysteresis: float) -> list[str]:
    """The new membership (best rank first): members within the band stay, newcomers fill the rest (pure).

    `ranked` is every candidate best first; a symbol missing from it (no recent bars) leaves.
    """
    band = math.ceil(n * (1 + hysteresis))
    position = {s: i for i, s in enumerate(ranked)}
    current = set(incumbents)
    stay = [s for s in ranked[:band] if s in current][:n]
    chosen = set(stay)
    for s in ranked:
        if len(chosen) >= n:
            break
        chosen.add(s)
    return sorted(chosen, key=lambda s: position[s])


def rule_key(rule: UniverseRule) -> str:
    """The rule as canonical JSON: membership chosen under another rule is re-ranked at once."""
    return json.dumps(rule.model_dump(by_alias=True), sort_keys=True, separators=(",", ":"))


def resolve_rule(store: DeltaStore, table: str, rule: UniverseRule, *, now: datetime,
                 among: Sequence[str] | None = None, persist: bool = True) -> list[str]:
    """The members of `table`'s rule universe: the persisted ones until the re-rank is due, else re-ranked.

    A re-rank over an empty source table keeps the current members (an empty warehouse is not a signal
    to drop everything). With `persist`, the new membership is written in one commit (`coverage_members`).
    """
    rows = [r for r in store.read_support("coverage_members").to_pylist() if r["table"] == table]
    members = sorted((r for r in rows if r["member"]), key=lambda r: (r["rank"] or 0, r["symbol"]))
    key = rule_key(rule)
    ranked_at = max((r["ranked_at"] for r in members if r["ranked_at"] is not None), default=None)
    fresh = members and all(r["rule"] == key for r in members) and ranked_at is not None \
        and now < ranked_at + RERANK_PERIOD[rule.rerank]
    if fresh:
        return [r["symbol"] for r in members]
    ranked = rank_symbols(store, rule, now=now, among=among)
    incumbents = [r["symbol"] for r in members]
    if not ranked:
        return incumbents
    chosen = choose_members([s for s, _ in ranked], incumbents, rule.n, rule.hysteresis)
    if persist:
        measure = dict(ranked)
        position = {s: i + 1 for i, (s, _) in enumerate(ranked)}
        stamp = now.astimezone(UTC)
        out = [{"table": table, "symbol": s, "member": True, "rank": position[s], "metric": measure[s],
                "rule": key, "ranked_at": stamp} for s in chosen]
        out += [{"table": table, "symbol": s, "member": False, "rank": position.get(s), "metric": measure.get(s),
                 "rule": key, "ranked_at": stamp} for s in incumbents if s not in set(chosen)]
        store.upsert_support("coverage_members", pa.Table.from_pylist(out, schema=SUPPORT_SCHEMAS["coverage_members"]),
                             keys=["table", "symbol"])
    return chosen


__all__ = ["RERANK_PERIOD", "choose_members", "rank_symbols", "resolve_rule", "rule_key"]
