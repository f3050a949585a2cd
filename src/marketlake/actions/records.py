"""The `corporate_actions` support table: action rows, their ids, the CSV form and the per-table state.

An action is identified by (symbol, kind, date) (`action_id`), so loading the same file twice, or the
same split from the CSV and from TwelveData, upserts one row. What was applied where lives on the row:
`applied_tables` is a JSON map table -> state (`{"state": "done"}` or a pending probe, see `apply.py`)
and `applied_at` is set once every production table is done: a NULL `applied_at` means "to apply".
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from marketlake.errors import ConfigError, ParseError
from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.storage import DeltaStore

TABLE = "corporate_actions"
KINDS = ("split", "dividend", "rename", "delisting")
CSV_COLUMNS = ("symbol", "kind", "date", "from_factor", "to_factor", "amount", "currency")
"""The required CSV columns; `new_symbol` is an optional eighth column (renames only)."""


def action_id(symbol: str, kind: str, day: date) -> str:
    """Stable key: the same event from any source is one row."""
    return hashlib.sha1(f"{symbol}\x1f{kind}\x1f{day.isoformat()}".encode()).hexdigest()[:20]


@dataclass
class Action:
    """One corporate action as stored (see SUPPORT_SCHEMAS['corporate_actions'])."""

    symbol: str
    kind: str
    date: date
    from_factor: float | None = None
    to_factor: float | None = None
    amount: float | None = None
    currency: str | None = None
    new_symbol: str | None = None
    source: str = "csv"
    status: str = "confirmed"
    applied: dict[str, Any] = field(default_factory=dict)  # table -> state
    applied_at: datetime | None = None
    recorded_at: datetime | None = None
    detail: str | None = None

    @property
    def id(self) -> str:
        return action_id(self.symbol, self.kind, self.date)

    @property
    def price_factor(self) -> float:
        """What a split multiplies the prices before its date by (1/7 for a 7-for-1 split)."""
        return float(self.from_factor or 1.0) / float(self.to_factor or 1.0)

    def same_event(self, other: Action) -> bool:
        """True when `other` describes the same event with the same numbers (a re-load is then a no-op)."""
        def eq(a: float | None, b: float | None) -> bool:
            return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12))

        return (self.id == other.id and eq(self.from_factor, other.from_factor) and eq(self.to_factor, other.to_factor)
                and eq(self.amount, other.amount) and (self.currency or None) == (other.currency or None)
                and (self.new_symbol or None) == (other.new_symbol or None) and self.status == other.status)

    def row(self) -> dict[str, Any]:
        return {"action_id": self.id, "symbol": self.symbol, "kind": self.kind, "date": self.date,
                "from_factor": self.from_factor, "to_factor": self.to_factor, "amount": self.amount,
                "currency": self.currency, "new_symbol": self.new_symbol, "source": self.source,
                "status": self.status, "applied_tables": json.dumps(self.applied, sort_keys=True),
                "applied_at": self.applied_at, "recorded_at": self.recorded_at or datetime.now(UTC),
                "detail": self.detail}


def _f(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def read_actions(store: DeltaStore, *, kinds: tuple[str, ...] | None = None) -> list[Action]:
    """Every stored action (the table is small), oldest date first."""
    rows = store.read_support(TABLE).to_pylist()
    out = []
    for r in rows:
        if kinds and r["kind"] not in kinds:
            continue
        out.append(Action(
            symbol=r["symbol"], kind=r["kind"], date=r["date"], from_factor=_f(r["from_factor"]),
            to_factor=_f(r["to_factor"]), amount=_f(r["amount"]), currency=r["currency"],
            new_symbol=r["new_symbol"], source=r["source"] or "csv", status=r["status"] or "confirmed",
            applied=json.loads(r["applied_tables"] or "{}"), applied_at=r["applied_at"],
            recorded_at=r["recorded_at"], detail=r["detail"],
        ))
    out.sort(key=lambda a: (a.date, a.symbol, a.kind))
    return out


def write_actions(store: DeltaStore, actions: list[Action]) -> int:
    """Upsert by action_id in one commit (none when the list is empty); returns the table version."""
    if not actions:
        return store.version(TABLE) if store.exists(TABLE) else -1
    rows = pa.Table.from_pylist([a.row() for a in actions], schema=SUPPORT_SCHEMAS[TABLE])
    return store.upsert_support(TABLE, rows, keys=["action_id"])


def merge_new(stored: list[Action], incoming: list[Action], *, conflicts: list[str] | None = None) -> list[Action]:
    """The incoming actions that are new or differ from what is stored. An applied split or rename with
    other numbers is refused: a ConfigError, or appended to `conflicts` (and skipped) when it is given."""
    known = {a.id: a for a in stored}
    out = []
    for a in incoming:
        old = known.get(a.id)
        if old is not None and (old.same_event(a) or (a.status == "suspected" and old.status == "confirmed")):
            continue
        if old is not None and old.kind in ("split", "rename") and (old.applied or old.applied_at) \
                and a.status == "confirmed" \
                and old.status == "confirmed":
            message = (
                f"the {a.kind} of {a.symbol} on {a.date} is already applied with other numbers ({old.from_factor:g}:"
                f"{old.to_factor:g}, now {a.from_factor}:{a.to_factor} from {a.source}); stored bars are not "
                f"re-rescaled: record a correcting split (the ratio between the two) on the same symbol instead"
            )
            if conflicts is None:
                raise ConfigError(message)
            conflicts.append(message)  # the caller reports it; the stored action stays
            continue
        out.append(a)
    return out


# -- the CSV form ---------------------------------------------------------------------------------
def _num(text: str, *, path: str, line: int, column: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ParseError(f"{text!r} is not a number", path=path, line=line, column=column) from None
    if not math.isfinite(value) or value <= 0:
        raise ParseError(f"{text!r} must be a positive number", path=path, line=line, column=column)
    return value


def parse_csv(text: str, *, path: str) -> list[Action]:
    """Actions from the CSV form (docs/corporate-actions.md); every bad line is a ParseError with its line."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ParseError(f"missing columns {missing}; expected {','.join(CSV_COLUMNS)}[,new_symbol]", path=path,
                         line=1)
    out: list[Action] = []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        symbol, kind = row["symbol"], row["kind"].lower()
        if not symbol:
            raise ParseError("empty symbol", path=path, line=line, column="symbol")
        if kind not in KINDS:
            raise ParseError(f"kind {row['kind']!r} is not one of {', '.join(KINDS)}", path=path, line=line,
                             column="kind")
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise ParseError(f"{row['date']!r} is not an ISO date (YYYY-MM-DD)", path=path, line=line,
                             column="date") from None
        a = Action(symbol=symbol, kind=kind, date=day, source="csv",
                   from_factor=_num(row["from_factor"], path=path, line=line, column="from_factor"),
                   to_factor=_num(row["to_factor"], path=path, line=line, column="to_factor"),
                   amount=_num(row["amount"], path=path, line=line, column="amount"),
                   currency=row["currency"] or None, new_symbol=row.get("new_symbol") or None)
        if kind == "split" and (a.from_factor is None or a.to_factor is None or a.from_factor == a.to_factor):
            raise ParseError("a split needs from_factor and to_factor (7-for-1: 1,7)", path=path, line=line,
                             column="to_factor")
        if kind == "dividend" and a.amount is None:
            raise ParseError("a dividend needs an amount", path=path, line=line, column="amount")
        if kind == "rename" and (not a.new_symbol or a.new_symbol == symbol):
            raise ParseError("a rename needs a different new symbol in the new_symbol column", path=path,
                             line=line, column="new_symbol")
        out.append(a)
    ids = [a.id for a in out]
    if len(set(ids)) != len(ids):
        dup = next(a for a in out if ids.count(a.id) > 1)
        raise ParseError(f"{dup.kind} of {dup.symbol} on {dup.date} appears twice", path=path)
    return out


def read_csv(path: Path) -> list[Action]:
    """`parse_csv` of a file (UTF-8, optionally with a BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParseError("no such file", path=str(path)) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise ParseError(f"not a UTF-8 CSV file ({exc.__class__.__name__})", path=str(path)) from None
    return parse_csv(text, path=str(path))


__all__ = ["Action", "CSV_COLUMNS", "KINDS", "TABLE", "action_id", "merge_new", "parse_csv", "read_actions",
           "read_csv", "write_actions"]
