"""Capacity planner: the naive model reproduces the original design's figure; batching changes it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from marketlake.capacity import parse_cadence, plan_capacity, plan_table, summarize
from marketlake.cli.main import app
from marketlake.schema import get_table
from marketlake.sources.budget import plan_limits


def test_naive_model_matches_original_design_and_batching_beats_it() -> None:
    row = plan_table(get_table("stocks_hourly_clean"), 500, plan_limits("basic"))
    assert row.naive_max_symbols == 33  # 800 credits / 24 hourly requests
    assert row.max_symbols == 800  # one request a day carries the day's 7 bars
    assert row.credits_per_day == 500


def test_cadence_and_pages() -> None:
    basic = plan_limits("basic")
    hourly = plan_table(get_table("crypto_1min_clean"), 50, basic, cadence_s=parse_cadence("1h"))
    assert hourly.refreshes_per_day == 24 and hourly.credits_per_day == 50 * 24
    one_min = plan_table(get_table("stocks_1min_clean"), 100, plan_limits("pro"))
    assert one_min.backfill_credits == 100 * (10 + 1)  # 126 sessions * 390 bars = 10 pages + earliest_timestamp
    assert parse_cadence("15min") == 900 and parse_cadence(None) is None


def test_pro_plan_fits_the_original_targets() -> None:
    pro = plan_limits("pro")
    rows = plan_capacity(pro)
    s = summarize(rows, pro)
    assert s.fits and s.credits_per_day == 3_400
    daily = next(r for r in rows if r.table == "stocks_daily_clean")
    assert daily.backfill_credits == 2_500 and daily.backfill_minutes == round(2_500 / 1_597, 2)


def test_cli_json_and_plot(tmp_path: Path) -> None:
    png, html = tmp_path / "cap.png", tmp_path / "cap.html"
    result = CliRunner().invoke(app, ["capacity", "--plan", "grow", "--json", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 6
    for key in ("table", "symbols", "credits_per_day", "backfill_credits", "backfill_minutes", "max_symbols",
                "naive_max_symbols"):
        assert key in rows[0]
    assert png.read_bytes()[:4] == b"\x89PNG"
    result = CliRunner().invoke(app, ["capacity", "--plan", "basic", "--cadence", "1h", "--plot", str(html)])
    assert result.exit_code == 0 and "naive" in result.output
    assert html.read_text().startswith("<!doctype html>")
