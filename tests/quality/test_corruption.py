"""The `corruption` check: a damaged table is an error (non-zero exit), the others are still checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.storage import DeltaStore
from tests.damage import commit_file, damage
from tests.quality.test_monitor import AS_OF

T = "stocks_daily_clean"


def _quality(store: DeltaStore) -> tuple[int, dict[str, object]]:
    res = CliRunner().invoke(app, ["quality", "-w", store.root, "--json", "--as-of", AS_OF.isoformat()])
    return res.exit_code, json.loads(res.output.strip().splitlines()[-1])


def _corruption(report: dict[str, object]) -> list[dict[str, object]]:
    return [i for i in report["issues"] if i["check"] == "corruption"]  # type: ignore[union-attr,index]


@pytest.mark.parametrize("how", ["zero", "truncate", "garble"])
def test_damaged_latest_commit_is_a_corruption_error(wh: DeltaStore, how: str) -> None:
    code, report = _quality(wh)
    assert code == 0 and not _corruption(report)
    latest = commit_file(wh.path(T), DeltaStore(wh.root).version(T))
    damage(latest, how)
    code, report = _quality(DeltaStore(wh.root))
    found = _corruption(report)
    assert code == 1 and found and found[0]["table"] == T and found[0]["severity"] == "error"
    assert latest.name in str(found[0]["detail"])


def test_damaged_data_file_is_a_corruption_error(wh: DeltaStore) -> None:
    damage(Path(wh.active_files(T)[0]), "garble")
    code, report = _quality(DeltaStore(wh.root))
    assert code == 1 and _corruption(report), report["issues"]


def test_a_damaged_support_table_is_reported_and_production_still_checked(wh: DeltaStore) -> None:
    symbols = commit_file(wh.path("symbols"), DeltaStore(wh.root).version("symbols"))
    damage(symbols, "zero")
    code, report = _quality(DeltaStore(wh.root))
    found = _corruption(report)
    assert code == 1 and {i["table"] for i in found} == {"symbols"}
    assert report["tables"] == [T]
    assert any(i["check"] == "coverage" or i["table"] == T for i in report["issues"]) or report["errors"] == 1
