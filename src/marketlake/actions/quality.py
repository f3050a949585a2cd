"""What the quality monitor needs from corporate actions: the known splits per table, recording the
splits it suspects, and applying known splits on `--fix`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from marketlake.actions.adjust import applied_splits
from marketlake.actions.apply import ApplyReport, apply_pending, record
from marketlake.actions.records import Action, read_actions
from marketlake.quality.checks_jumps import KnownSplit
from marketlake.quality.issues import Issue
from marketlake.storage import DeltaStore

_SUSPECTED = re.compile(r"unadjusted (\d+(?:\.\d+)?):(\d+(?:\.\d+)?) (?:reverse )?split suspected at (\d{4}-\d{2}-\d{2})")


def known_splits(store: DeltaStore, table: str) -> list[KnownSplit]:
    """Confirmed splits, each with whether `table`'s stored bars reflect it."""
    if not store.exists("corporate_actions"):
        return []
    actions = read_actions(store, kinds=("split",))
    done = {a.id for a in applied_splits(actions, table)}
    return [KnownSplit(a.symbol, a.date, float(a.from_factor or 1), float(a.to_factor or 1), a.id in done)
            for a in actions if a.status == "confirmed"]


def suspected_actions(issues: Iterable[Issue]) -> list[Action]:
    """The monitor's split detections as `suspected` actions ("a:b split": a new shares for b old)."""
    out: dict[str, Action] = {}
    for i in issues:
        m = _SUSPECTED.search(i.detail) if i.check == "split" and i.symbol else None
        if m is None:
            continue
        new, old, day = float(m.group(1)), float(m.group(2)), datetime.fromisoformat(m.group(3)).date()
        a = Action(symbol=i.symbol or "", kind="split", date=day, from_factor=old, to_factor=new, source="quality",
                   status="suspected", detail=f"{i.table}: {i.detail}"[:500])
        out.setdefault(a.id, a)
    return list(out.values())


def record_suspected(store: DeltaStore, issues: Iterable[Issue]) -> int:
    """Record detections not known yet as `suspected` (never applied until confirmed); returns how many."""
    found = suspected_actions(issues)
    if not found:
        return 0
    fresh, _ = record(store, found, apply=False, now=datetime.now(UTC))
    return fresh


def apply_known(store: DeltaStore, symbols: Iterable[str]) -> ApplyReport:
    """`--fix` for an unapplied known split: apply the confirmed, pending splits of these symbols."""
    wanted = set(symbols)
    ids = {a.id for a in read_actions(store, kinds=("split",))
           if a.symbol in wanted and a.status == "confirmed" and a.applied_at is None}
    return apply_pending(store, only=ids) if ids else ApplyReport()


__all__ = ["apply_known", "known_splits", "record_suspected", "suspected_actions"]
