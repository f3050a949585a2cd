"""Coverage sections: validation, universes (lists, names, files, rules with hysteresis), init and capacity."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.config import MarketlakeConfig
from marketlake.coverage.model import UniverseRule
from marketlake.coverage.plan import covered_tables, parse_duration
from marketlake.coverage.presets import preset_text
from marketlake.coverage.rules import choose_members, resolve_rule
from marketlake.coverage.universe import resolve_symbols
from marketlake.errors import ConfigError
from marketlake.pipeline.core import load_bars
from marketlake.pipeline.sync.due import last_complete_bar, next_bar_complete
from marketlake.schema import TABLES
from marketlake.storage import DeltaStore

runner = CliRunner()


def _cfg(coverage: dict[str, object], **extra: object) -> MarketlakeConfig:
    return MarketlakeConfig.model_validate({"coverage": coverage, **extra})


@pytest.mark.parametrize(("section", "says"), [
    ({"stocks_weekly_clean": {"source": "twelvedata", "universe": ["A"]}}, "unknown table"),
    ({"stocks_daily_clean": {"source": "binance", "universe": ["A"]}}, "cannot serve stocks"),
    ({"stocks_hourly_clean": {"source": "twelvedata", "universe": ["A"], "cadence": "1min"}}, "finer than"),
    ({"stocks_daily_clean": {"source": "twelvedata", "universe": ["A"], "history": "3 parsecs"}}, "not understood"),
    ({"crypto_hourly_clean": {"source": "binance", "universe": {"rule": "top", "n": 5, "from": "nope"}}}, "not a production"),
])
def test_bad_sections_are_refused_with_the_reason(section: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        covered_tables(_cfg(section))


def test_defaults_come_from_the_table_and_finer_cadences_sort_first() -> None:
    cfg = _cfg({"stocks_daily_clean": {"source": "twelvedata", "universe": ["A"]},
                "crypto_1min_clean": {"source": "binance", "universe": ["BTC/USD"], "history": "2w"},
                "stocks_hourly_clean": {"source": "twelvedata", "universe": ["A"], "cadence": "4h"}})
    tables = covered_tables(cfg)
    assert [c.name for c in tables] == ["crypto_1min_clean", "stocks_hourly_clean", "stocks_daily_clean"]
    assert tables[0].cadence == timedelta(minutes=1) and tables[0].spec.history_days == 14
    assert tables[2].cadence == timedelta(days=1) and tables[2].spec.history_days == TABLES["stocks_daily_clean"].history_days
    assert parse_duration("6mo", what="x") == timedelta(days=180)


def test_universe_from_a_name_a_file_and_a_limit(tmp_path: Path) -> None:
    listed = tmp_path / "mine.txt"
    listed.write_text("# my names\nAAPL\nMSFT\nAAPL\nNVDA\n")
    cfg = _cfg({"stocks_daily_clean": {"source": "twelvedata", "universe": str(listed), "limit": 2},
                "stocks_hourly_clean": {"source": "twelvedata", "universe": "dow30"}})
    by_name = {c.name: c for c in covered_tables(cfg)}
    now = datetime.now(UTC)
    assert resolve_symbols(by_name["stocks_daily_clean"], cfg, None, now=now) == ["AAPL", "MSFT"]
    assert len(resolve_symbols(by_name["stocks_hourly_clean"], cfg, None, now=now)) == 30
    bad = _cfg({"stocks_daily_clean": {"source": "twelvedata", "universe": "no_such_list"}})
    with pytest.raises(ConfigError, match="neither a universe name"):
        resolve_symbols(covered_tables(bad)[0], bad, None, now=now)


def test_hysteresis_keeps_members_near_the_cut() -> None:
    ranked = ["A", "B", "C", "D", "E", "F"]
    assert choose_members(ranked, [], 3, 0.1) == ["A", "B", "C"]
    # D was a member and now ranks 4th: inside the band of ceil(3 * 1.34) = 5, it keeps its place over C
    assert choose_members(ranked, ["A", "B", "D"], 3, 0.34) == ["A", "B", "D"]
    # without hysteresis, or ranked beyond the band, it leaves for the best newcomer
    assert choose_members(ranked, ["A", "B", "D"], 3, 0.0) == ["A", "B", "C"]
    assert choose_members(ranked, ["A", "B", "F"], 3, 0.34) == ["A", "B", "C"]


def _daily_bars(volumes: dict[str, float], days: int = 25) -> pd.DataFrame:
    stamps = [t for t in pd.date_range("2024-09-02 13:30", periods=days * 2, freq="D", tz="UTC") if t.day_of_week < 5][:days]
    frames = []
    for i, (sym, vol) in enumerate(volumes.items()):
        close = 10.0 + i + np.sin(np.arange(len(stamps)) / 3)
        frames.append(pd.DataFrame({"symbol": sym, "datetime": stamps, "open": close, "high": close * 1.01,
                                    "low": close * 0.99, "close": close, "volume": vol * (1 + np.arange(len(stamps)) % 3)}))
    return pd.concat(frames, ignore_index=True)


def test_rule_ranks_by_median_dollar_volume_and_stays_stable_until_the_rerank(tmp_path: Path) -> None:
    store = DeltaStore(tmp_path / "wh")
    raw = _daily_bars({"AAA": 9e5, "BBB": 5e5, "CCC": 7e5, "DDD": 1e5, "EEE": 3e5})
    load_bars(store, "stocks_daily_clean", raw, source="test", peers=False)
    # oracle: the median of close * volume over each symbol's last 20 bars, computed here from the input
    tail = raw.assign(dv=raw["close"] * raw["volume"]).sort_values("datetime").groupby("symbol").tail(20)
    expected = tail.groupby("symbol")["dv"].median().sort_values(ascending=False).index[:3].tolist()
    rule = UniverseRule.model_validate({"rule": "top", "n": 3, "from": "stocks_daily_clean", "rerank": "weekly",
                                        "hysteresis": 0.0})
    now = datetime(2024, 10, 7, tzinfo=UTC)
    assert resolve_rule(store, "stocks_hourly_clean", rule, now=now) == expected
    # before the re-rank is due, the persisted membership holds even when the candidates change
    narrower = [s for s in raw["symbol"].unique() if s != expected[0]]
    assert resolve_rule(store, "stocks_hourly_clean", rule, now=now + timedelta(days=3), among=narrower) == expected
    # a week later it is re-ranked: the member no longer a candidate leaves, the best newcomer enters
    later = resolve_rule(store, "stocks_hourly_clean", rule, now=now + timedelta(days=8), among=narrower)
    assert expected[0] not in later and len(later) == 3
    members = store.read_support("coverage_members").to_pandas()
    assert set(members[members["member"]]["symbol"]) == set(later)
    assert not members.set_index("symbol").at[expected[0], "member"]


def test_due_follows_the_exchange_calendar() -> None:
    daily, hourly, minute = (TABLES[f"stocks_{t}_clean"] for t in ("daily", "hourly", "1min"))
    friday_close = datetime(2024, 11, 8, 21, 0, tzinfo=UTC)
    # after Friday's close the next stock bars are Monday's: nothing is due over the weekend
    assert next_bar_complete(daily, datetime(2024, 11, 8, 14, 30, tzinfo=UTC)) == datetime(2024, 11, 11, 21, 0, tzinfo=UTC)
    assert next_bar_complete(hourly, datetime(2024, 11, 8, 20, 30, tzinfo=UTC)) == datetime(2024, 11, 11, 15, 30, tzinfo=UTC)
    assert next_bar_complete(minute, datetime(2024, 11, 8, 20, 59, tzinfo=UTC)) == datetime(2024, 11, 11, 14, 31, tzinfo=UTC)
    # the 15:30 hourly bar covers 30 minutes: complete at the close; Thanksgiving Friday closes at 13:00
    assert next_bar_complete(hourly, datetime(2024, 11, 8, 19, 30, tzinfo=UTC)) == friday_close
    assert last_complete_bar(minute, datetime(2024, 11, 29, 20, 0, tzinfo=UTC)) == datetime(2024, 11, 29, 17, 59, tzinfo=UTC)
    assert next_bar_complete(TABLES["crypto_hourly_clean"], datetime(2024, 11, 9, 3, tzinfo=UTC)) == \
        datetime(2024, 11, 9, 5, tzinfo=UTC)


def test_init_writes_a_commented_plan_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "marketlake.toml"
    done = runner.invoke(app, ["init", "--preset", "hybrid", "--output", str(target)])
    assert done.exit_code == 0, done.output
    text = target.read_text()
    assert text.count("\n[coverage.") == 6 and "# " in text and "hysteresis" in text
    cfg = MarketlakeConfig.model_validate(tomllib.loads(text))
    tiers = {c.name: (c.source, c.config.limit or (c.universe.n if c.is_rule else None))  # type: ignore[union-attr]
             for c in covered_tables(cfg)}
    assert tiers["stocks_daily_clean"] == ("twelvedata", 2500) and tiers["stocks_hourly_clean"] == ("twelvedata", 500)
    assert tiers["stocks_1min_clean"] == ("twelvedata", 100) and tiers["crypto_hourly_clean"] == ("binance", 100)
    again = runner.invoke(app, ["init", "--preset", "free", "--output", str(target)])
    assert again.exit_code != 0 and "--force" in str(again.exception) and target.read_text() == text
    assert runner.invoke(app, ["init", "--preset", "free", "--output", str(target), "--force"]).exit_code == 0
    assert "plan = \"basic\"" in target.read_text()


@pytest.mark.parametrize(("preset", "plan", "fits"), [("hybrid", "grow", True), ("hybrid", "basic", False),
                                                      ("free", "basic", True)])
def test_capacity_reads_the_plan_names_every_table_and_exits_0(tmp_path: Path, preset: str, plan: str, fits: bool) -> None:
    cfg = tmp_path / "marketlake.toml"
    cfg.write_text(preset_text(preset))
    done = runner.invoke(app, ["capacity", "--config", str(cfg), "--plan", plan, "--json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    named = {t["table"] for t in answer["tables"]} | {t["table"] for t in answer["binance_tables"]}
    assert named == set(TABLES) and answer["fits"] is fits
    # oracle: one credit per symbol per refresh (each request carries a whole refresh's bars)
    assert answer["credits_per_day"] == sum(t["symbols"] * t["refreshes_per_day"] for t in answer["tables"])
    if not fits:
        assert any("grow" in a for a in answer["advice"])
    text = runner.invoke(app, ["capacity", "--config", str(cfg), "--plan", plan])
    assert text.exit_code == 0 and ("does NOT fit" in text.output) is not fits
