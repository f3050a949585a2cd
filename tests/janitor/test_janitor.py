"""Janitor: audit classes, plan = exactly the leftovers, apply removes them and nothing else."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.errors import ConfigError
from marketlake.janitor import apply, audit, decide, plan
from marketlake.janitor.audit import AuditEntry
from marketlake.storage import DeltaStore
from marketlake.storage.maintenance import file_checksums
from tests.janitor.conftest import LEFTOVERS, UNKNOWN

PRODUCTION = ("stocks_daily_clean", "crypto_daily_clean")


def _entry(name: str, cls: str) -> AuditEntry:
    return AuditEntry(name, cls, "delta", 1, 10, 1, 0, 1, None)


def test_decide_is_pure_and_protects_production() -> None:
    entries = [_entry("stocks_daily_clean", "production"), _entry("temp_X", "temp"), _entry("foo", "unknown")]
    actions = {p.name: p.action for p in decide(entries)}
    assert actions == {"stocks_daily_clean": "keep", "temp_X": "remove", "foo": "keep"}
    assert {p.name: p.action for p in decide(entries, include=["foo"])}["foo"] == "remove"
    with pytest.raises(ConfigError):
        decide(entries, include=["stocks_daily_clean"])
    with pytest.raises(ConfigError):
        decide(entries, include=["nope"])


def test_audit_classifies_everything(seeded: DeltaStore) -> None:
    by_name = {e.name: e for e in audit(seeded)}
    for name in LEFTOVERS:
        assert by_name[name].object_class in ("legacy", "temp"), name
    assert by_name["temp_GOOGL"].object_class == "temp"
    assert by_name["v2_stocks_daily"].kind == "delta"
    assert by_name["_temp_features_AAPL"].kind == "parquet"
    assert by_name["btc_ai_training_daily"].partitions == 1
    assert by_name[UNKNOWN].object_class == "unknown"
    prod = by_name["stocks_daily_clean"]
    assert prod.object_class == "production" and prod.rows and prod.rows > 0 and prod.versions >= 2
    assert by_name["quality_runs"].object_class == "support"


def test_plan_lists_exactly_the_leftovers_and_changes_nothing(seeded: DeltaStore) -> None:
    before = file_checksums(seeded.root)
    entries = plan(seeded)
    assert {p.name for p in entries} == LEFTOVERS
    assert all(p.action == "remove" and p.bytes > 0 for p in entries)
    assert file_checksums(seeded.root) == before


def test_apply_removes_leftovers_only(seeded: DeltaStore) -> None:
    sums = {t: file_checksums(seeded.path(t)) for t in PRODUCTION}
    rows = {t: seeded.read(t).sort_by([("symbol", "ascending"), ("datetime", "ascending")]) for t in PRODUCTION}
    apply(seeded)
    names = {e.name for e in audit(seeded)}
    assert not names & LEFTOVERS
    assert UNKNOWN in names and {"quality_runs", "janitor_log", *PRODUCTION} <= names
    for t in PRODUCTION:
        assert file_checksums(seeded.path(t)) == sums[t]
        assert seeded.read(t).equals(rows[t])
    log = seeded.read_support("janitor_log").to_pylist()
    assert {r["name"] for r in log if r["action"] == "remove"} == LEFTOVERS
    assert plan(seeded) == []


def test_unknown_removed_only_when_named(seeded: DeltaStore) -> None:
    apply(seeded, include=[UNKNOWN])
    assert UNKNOWN not in {e.name for e in audit(seeded)}


def test_cli_plan_json_and_apply_needs_yes(seeded: DeltaStore) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["janitor", "plan", "-w", seeded.root, "--json"])
    assert res.exit_code == 0, res.output
    items = json.loads(res.output)
    assert {i["name"] for i in items} == LEFTOVERS
    assert all({"name", "class", "action", "bytes"} <= set(i) for i in items)
    audit_items = json.loads(runner.invoke(app, ["janitor", "audit", "-w", seeded.root, "--json"]).output)
    assert {"name", "class", "action", "bytes", "rows", "versions"} <= set(audit_items[0])
    dry = runner.invoke(app, ["janitor", "apply", "-w", seeded.root])
    assert dry.exit_code == 1 and "--yes" in dry.output
    assert LEFTOVERS <= {e.name for e in audit(seeded)}
    done = runner.invoke(app, ["janitor", "apply", "-w", seeded.root, "--yes"])
    assert done.exit_code == 0, done.output
    assert not LEFTOVERS & {e.name for e in audit(seeded)}


def test_vacuum_and_compaction_planned_for_fragmented_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.janitor.conftest import small_bars

    store = DeltaStore(tmp_path / "wh")
    bars = small_bars(stocks=2, crypto=0, days=40)
    half = bars.num_rows // 2
    store.write_bars("stocks_daily_clean", bars.slice(0, half))
    store.write_bars("stocks_daily_clean", bars.slice(half))  # same months again: several small files
    head = bars.slice(0, 5)
    changed = head.set_column(head.schema.get_field_index("close"), "close",
                              pa.array(head.column("close").to_numpy() * 1.01))
    store.write_bars("stocks_daily_clean", changed)  # rewrite -> removed files for vacuum
    actions = {(p.name, p.action) for p in plan(store, vacuum_hours=0)}
    assert ("stocks_daily_clean", "vacuum") in actions
    expected = store.read("stocks_daily_clean")
    apply(store, vacuum_hours=0)
    assert store.read("stocks_daily_clean").equals(expected)
    log = {r["action"] for r in store.read_support("janitor_log").to_pylist()}
    assert "vacuum" in log
