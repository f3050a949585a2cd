"""`marketlake report`: one self-contained page, bounded aggregates, and every chart rendered in a real browser.

The browser is the system's headless Chromium (Debian package `chromium`) driven by Playwright against
that executable (no downloaded browser); the browser tests skip, saying why, where either is missing.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.monitor.report import (
    build_report,
    coverage_counts,
    credits_per_day,
    expected_per_period,
    quality_per_run,
)
from marketlake.pipeline.demo import DemoTier, build_demo
from marketlake.quality import QualityConfig, run_quality
from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.storage import DeltaStore

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TIERS = {"daily": DemoTier(stocks=3, crypto=2, days=420), "hourly": DemoTier(stocks=2, crypto=1, days=20),
         "1min": DemoTier(stocks=1, crypto=1, days=3)}
CREDITS = {TODAY - timedelta(days=2): 310, TODAY - timedelta(days=1): 795, TODAY: 120}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DeltaStore:
    """A small demo warehouse (the demo's own code path), two recorded quality runs, credits on three days."""
    root = tmp_path_factory.mktemp("report") / "wh"
    build_demo(root, tiers=TIERS, today=TODAY)
    store = DeltaStore(root)
    for _ in range(2):
        run_quality(store, config=QualityConfig(), record=True)
    for day, credits in CREDITS.items():
        for part in (credits - credits // 3, credits // 3):  # two processes' increments add up
            minute = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
            row = {"vendor": ["twelvedata"], "day": [day], "minute": [minute], "credits": [part],
                   "requests": [part], "updated_at": [minute]}
            store.append_support("api_usage", pa.table(row, schema=SUPPORT_SCHEMAS["api_usage"]))
    return store


@pytest.fixture(scope="module")
def page(demo: DeltaStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    info = build_report(demo, out, now=NOW, budgets={"twelvedata": 800})
    assert info.path == out and info.bytes == out.stat().st_size
    return out


EXPECTED_CHARTS = {"chart-freshness", "chart-coverage-targets", "chart-quality", "chart-credits", "chart-capacity",
                   "chart-candles-stocks_daily_clean-SPY", "chart-candles-crypto_daily_clean-BTC-USD",
                   *(f"chart-coverage-{a}_{t}_clean" for a in ("stocks", "crypto") for t in ("daily", "hourly", "1min"))}


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


# -- without a browser ---------------------------------------------------------------------------
def test_page_is_self_contained(page: Path) -> None:
    text = page.read_text()
    assert re.search(r"<script[^>]*\bsrc\s*=", text, re.I) is None  # plotly.js is inlined, not fetched
    assert re.search(r"<link[^>]*\bhref\s*=", text, re.I) is None
    assert "Plotly.newPlot" in text and text.count('class="plotly-graph-div"') == len(EXPECTED_CHARTS)
    for chart in EXPECTED_CHARTS:
        assert f'id="{chart}"' in text, chart


def test_aggregates_match_independent_counts(demo: DeltaStore) -> None:
    """The heatmap's DuckDB counts equal a pandas count of the rows; credits and quality sum by hand."""
    rows = demo.read("stocks_hourly_clean", columns=["symbol", "datetime"]).to_pandas()
    want = rows.groupby(["symbol", rows["datetime"].dt.tz_convert("UTC").dt.date]).size()
    got = coverage_counts(demo, "stocks_hourly_clean", sorted(rows["symbol"].unique()), bucket="day")
    got_days = {(s, pd.Timestamp(p).date()): n for s, p, n in zip(got["symbol"], got["period"], got["bars"])}
    assert got_days == want.to_dict()
    sampled = coverage_counts(demo, "stocks_hourly_clean", ["SPY"], bucket="day")
    assert set(sampled["symbol"]) == {"SPY"} and sampled["bars"].sum() == (rows["symbol"] == "SPY").sum()

    # the heatmap's denominator: the calendar's bars per day (Thanksgiving none, the early close 210)
    one_min = expected_per_period("stocks_1min_clean", _ns(datetime(2026, 11, 25, tzinfo=UTC)),
                                  _ns(datetime(2026, 11, 28, tzinfo=UTC)), bucket="day")
    assert {d.date().isoformat(): int(n) for d, n in one_min.items()} == {"2026-11-25": 390, "2026-11-27": 210}
    weeks = expected_per_period("stocks_daily_clean", _ns(datetime(2026, 11, 23, tzinfo=UTC)),
                                _ns(datetime(2026, 12, 5, tzinfo=UTC)), bucket="week")
    assert {d.date().isoformat(): int(n) for d, n in weeks.items()} == {"2026-11-23": 4, "2026-11-30": 5}

    per_day = credits_per_day(demo)
    assert dict(zip(per_day["day"], per_day["credits"])) == CREDITS

    runs = quality_per_run(demo)
    issues = demo.read_support("quality_issues", columns=["run_id"]).to_pandas()
    assert runs["run_id"].nunique() == 2 and runs["issues"].sum() == len(issues) > 0


def test_report_command(demo: DeltaStore, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = CliRunner().invoke(app, ["report", "-w", demo.root, "--out", str(out), "--symbols", "AAPL",
                                    "-s", "stocks_hourly_clean:SPY", "--now", NOW.isoformat()])
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert 'id="chart-candles-stocks_daily_clean-AAPL"' in text and 'id="chart-candles-stocks_hourly_clean-SPY"' in text
    assert "report written to" in done.stderr


# -- in a real browser ---------------------------------------------------------------------------
# MARKETLAKE_CHROMIUM names another browser executable (a path that does not exist: no browser, the skip)
_CANDIDATES = ((os.environ["MARKETLAKE_CHROMIUM"],) if os.environ.get("MARKETLAKE_CHROMIUM") else
               (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"))
CHROMIUM = next((p for p in _CANDIDATES if p and os.path.exists(p)), None)


@pytest.fixture(scope="module")
def browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        pytest.skip("Playwright is not installed (pip install 'marketlake[test]')")
    if CHROMIUM is None:
        pytest.skip("no system Chromium to drive (apt-get install chromium; `make install` does it where it can)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@dataclass
class PageCheck:
    """What the browser saw: console errors, requests leaving the file, and per chart its marks and pixels."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    charts: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # id -> (svgs, marks, pixel std)


def _pixel_std(png: bytes) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float).std())


def inspect_page(browser: Any, path: Path) -> PageCheck:
    seen = PageCheck()
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = context.new_page()
    pg.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: seen.errors.append(str(e)))

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            seen.external.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    pg.goto(path.as_uri(), wait_until="load")
    # every chart drawn (the page marks each when Plotly.newPlot resolves), or no Plotly at all (a broken page)
    pg.wait_for_function("() => typeof window.Plotly === 'undefined' || Array.from("
                         "document.querySelectorAll('.plotly-graph-div')).every(d => d.dataset.rendered)", timeout=60_000)
    for div in pg.query_selector_all(".plotly-graph-div"):
        chart = div.get_attribute("id") or "?"
        svgs = int(div.evaluate("d => d.querySelectorAll('svg.main-svg').length"))
        marks = int(div.evaluate(  # drawn marks: a trace's paths with geometry, a heatmap's image, a canvas
            "d => Array.from(d.querySelectorAll('g.trace path')).filter(p => (p.getAttribute('d') || '').length > 2)"
            ".length + Array.from(d.querySelectorAll('image')).filter(i => (i.getAttribute('href') || '')"
            ".startsWith('data:')).length + d.querySelectorAll('canvas').length"))
        div.scroll_into_view_if_needed()
        seen.charts[chart] = (svgs, marks, _pixel_std(div.screenshot()))
    context.close()
    return seen


def test_report_renders_in_headless_chromium(browser: Any, page: Path) -> None:
    seen = inspect_page(browser, page)
    assert seen.errors == [] and seen.external == []
    assert set(seen.charts) == EXPECTED_CHARTS
    for chart, (svgs, marks, std) in seen.charts.items():
        assert svgs >= 1 and marks >= 1, (chart, svgs, marks)
        assert std > 5.0, (chart, std)  # not a blank (single-colour) picture


def test_the_browser_check_sees_a_broken_page(browser: Any, page: Path, tmp_path: Path) -> None:
    """The check above can fail: without the inlined plotly.js the page errors and no chart draws."""
    text = page.read_text()
    start = text.index("<script type='text/javascript'>")
    broken = tmp_path / "broken.html"
    broken.write_text(text[:start] + text[text.index("</script>", start) + len("</script>"):])
    seen = inspect_page(browser, broken)
    assert any("Plotly" in e for e in seen.errors)
    assert all(svgs == 0 and marks == 0 for svgs, marks, _std in seen.charts.values())
