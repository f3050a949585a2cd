"""Backfill, incremental, idempotent re-runs and 404 handling into a real Delta warehouse."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from marketlake.errors import WarehouseLocked
from marketlake.pipeline.vendor_ingest import StoreUsage, ingest_twelvedata
from marketlake.sources.budget import CreditBudget, plan_limits
from marketlake.sources.http import RetryPolicy
from marketlake.sources.twelvedata.client import TwelveDataClient
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData, make_values


def _client(url: str, store: DeltaStore, per_minute: int = 40) -> TwelveDataClient:
    limits = plan_limits("custom", credits_per_minute=per_minute, credits_per_day=100_000)
    budget = CreditBudget("twelvedata", limits=limits, minute_seconds=MINUTE_S, usage=StoreUsage(store))
    return TwelveDataClient(api_key=API_KEY, budget=budget, base_url=url,
                            retry=RetryPolicy(base_s=0.01, cap_s=0.05, seed=3))


def test_backfill_then_incremental_then_idempotent(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    store = DeltaStore(tmp_path / "wh")
    now = lambda: td_state.market_now  # noqa: E731
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        first = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT", "NOPE", "BTC/USD"][:3],
                                  client=client, now=now)
        again = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT", "NOPE"], client=client, now=now)
        td_state.market_now += timedelta(days=1)
        td_state._cache.clear()
        later = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT", "NOPE"], client=client, now=now)
    assert td_state.violations == 0
    # one batch of three (NOPE answers 404 inside it); each history fits one page, so no /earliest_timestamp
    assert first.credits == 3 and first.not_found.keys() == {"NOPE"}
    assert again.credits == 0 and again.rows_changed == 0 and again.up_to_date == 2
    assert later.credits == 2  # AAPL and MSFT in one batch request; NOPE is inactive, not asked again
    bars = store.read("stocks_daily_clean", columns=["symbol", "datetime", "close"]).to_pandas()
    assert not bars.duplicated(["symbol", "datetime"]).any()
    aapl = bars[bars.symbol == "AAPL"].sort_values("datetime")
    expected = [v["datetime"] for v in make_values(td_state, "AAPL", "1day")][:-1]  # last one still forming
    assert len(aapl) == len(expected)
    assert aapl["datetime"].max() == pd.Timestamp("2024-11-05 14:30Z")
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    assert master.at["NOPE", "active"] == False and "404" in master.at["NOPE", "inactive_reason"]  # noqa: E712
    state = store.read_support("ingest_state").to_pandas().set_index("symbol")
    assert bool(state.at["AAPL", "backfill_complete"]) and state.at["NOPE", "status"] == "error"
    usage = store.read_support("api_usage").to_pandas()
    assert usage["credits"].sum() == client.budget.total_credits == td_state.credits_total == 5
    assert [p for p, _ in td_state.requests].count("/earliest_timestamp") == 0  # nothing to page back to


def test_intraday_paging_across_dst(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    td_state.listings["BTC/USD"] = date(2024, 10, 29)  # ~10,000 one-minute bars: three pages
    store = DeltaStore(tmp_path / "wh")
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        rep = ingest_twelvedata(store, "crypto_1min_clean", ["BTC/USD"], client=client,
                                now=lambda: td_state.market_now)
    bars = store.read("crypto_1min_clean", columns=["symbol", "datetime"]).to_pandas()
    expected = len(make_values(td_state, "BTC/USD", "1min")) - 1
    assert len(bars) == expected and not bars.duplicated().any()
    diffs = bars["datetime"].sort_values().diff().dropna().unique()
    assert list(diffs) == [pd.Timedelta(minutes=1)]  # no gap, no duplicate
    assert rep.credits >= 2  # paged backwards 5,000 bars at a time


def test_second_concurrent_run_refuses(tmp_path: Path, td_server: FakeTwelveData) -> None:
    store = DeltaStore(tmp_path / "wh")
    store.ensure_tables(["stocks_daily_clean"])
    with store.writer_lock():
        import subprocess
        import sys

        code = (
            "import sys; from marketlake.storage import DeltaStore;"
            "from marketlake.errors import WarehouseLocked;"
            f"s = DeltaStore({str(tmp_path / 'wh')!r})\n"
            "try:\n  s.writer_lock(wait=False).__enter__()\nexcept WarehouseLocked as e:\n  print('LOCKED', e); sys.exit(3)"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "LOCKED" in proc.stdout
    assert WarehouseLocked  # the error the CLI turns into one clear line


def test_backfill_stops_at_earliest_timestamp(tmp_path: Path, td_state: FakeState) -> None:
    """History ends exactly on a page boundary: the pager stops there instead of buying an empty page."""
    td_state.credits_per_minute = 40
    td_state.listings["BTC/USD"] = date(2024, 11, 5)
    td_state.market_now = td_state.market_now.replace(minute=6)  # 907 bars, 00:00..15:06 (forming included)
    assert len(make_values(td_state, "BTC/USD", "1min")) == 907  # two pages of 454 (end_date is inclusive)
    store = DeltaStore(tmp_path / "wh")
    now = lambda: td_state.market_now  # noqa: E731
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        first = ingest_twelvedata(store, "crypto_1min_clean", ["BTC/USD", "NOPE/USD"], client=client, now=now,
                                  outputsize=454)
        again = ingest_twelvedata(store, "crypto_1min_clean", ["BTC/USD"], client=client, now=now, outputsize=454)
    paths = [p for p, _ in td_state.requests]
    # page 1 (BTC/USD full, NOPE/USD 404 in the same batch), then BTC/USD's earliest bar (asked because its
    # page was full), then page 2, which reaches it: no third page, which the vendor would answer with an error
    assert first.credits == td_state.credits_total == 4
    assert paths == ["/time_series", "/earliest_timestamp", "/time_series"]
    assert again.credits == 0 and first.not_found.keys() == {"NOPE/USD"}
    bars = store.read("crypto_1min_clean", columns=["datetime"]).to_pandas()
    assert len(bars) == 906 and bars["datetime"].min() == pd.Timestamp("2024-11-05 00:00Z")
    state = store.read_support("ingest_state").to_pandas().set_index("symbol")
    assert pd.Timestamp(state.at["BTC/USD", "earliest_available"]) == pd.Timestamp("2024-11-05 00:00Z")
    assert bool(state.at["BTC/USD", "backfill_complete"])


def _sectors(store: DeltaStore, symbols: dict[str, str]) -> None:
    import pyarrow as pa

    store.upsert_support("symbols", pa.table({"symbol": list(symbols), "sector": list(symbols.values())}),
                         keys=["symbol"])


def test_backfill_defers_peer_refresh_to_one_pass_at_the_end(tmp_path: Path, td_state: FakeState) -> None:
    """Pages load only their own symbols; one refresh at the end leaves the table as a full recompute."""
    from marketlake.pipeline.core import refresh_cross_section
    from marketlake.pipeline.vendor_ingest import PEERS_MARKER

    td_state.credits_per_minute = 40
    for s in ("AMD", "INTC"):
        td_state.listings[s] = date(2024, 1, 2)
    store = DeltaStore(tmp_path / "wh")
    tech = ["AAPL", "MSFT", "AMD", "INTC"]
    _sectors(store, {s: "Information Technology" for s in tech})
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        rep = ingest_twelvedata(store, "stocks_daily_clean", ["SPY", *tech], client=client, batch_size=2,
                                now=lambda: td_state.market_now)
    pages = [load for load in rep.loads if load.source == "twelvedata"]
    assert len(pages) == 3 and all(load.symbols_computed <= 3 for load in pages)  # own symbols + SPY
    refresh = [load for load in rep.loads if load.source == "refresh"]
    assert len(refresh) == 1 and refresh[0].updated > 0  # earlier pages' rs_sector_20 / beta were stale
    state = store.read_support("ingest_state").to_pandas().set_index("symbol")
    assert state.at[PEERS_MARKER, "status"] == "peers_fresh"
    again = refresh_cross_section(store, "stocks_daily_clean")
    assert again.updated == 0 and again.inserted == 0  # == recomputing everything now
    df = store.read("stocks_daily_clean").to_pandas()
    late = df[df["datetime"] > pd.Timestamp("2024-09-01", tz="UTC")]
    assert late.loc[late["symbol"].isin(tech), "rs_sector_20"].notna().all()


def test_run_killed_before_the_refresh_refreshes_on_the_next_run(tmp_path: Path, td_state: FakeState) -> None:
    import pyarrow as pa

    from marketlake.pipeline.vendor_ingest import PEERS_MARKER
    from marketlake.schema import SUPPORT_SCHEMAS

    td_state.credits_per_minute = 40
    store = DeltaStore(tmp_path / "wh")
    _sectors(store, {"AAPL": "Information Technology", "MSFT": "Information Technology"})
    now = lambda: td_state.market_now  # noqa: E731
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT"], client=client, now=now)
        marker = {"table": "stocks_daily_clean", "symbol": PEERS_MARKER, "status": "peers_stale"}
        store.upsert_support("ingest_state", pa.Table.from_pylist([marker], schema=SUPPORT_SCHEMAS["ingest_state"]),
                             keys=["table", "symbol"])  # what a run killed between its pages and refresh leaves
        rerun = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT"], client=client, now=now)
    assert rerun.credits == 0 and [load.source for load in rerun.loads] == ["refresh"]
    state = store.read_support("ingest_state").to_pandas().set_index("symbol")
    assert state.at[PEERS_MARKER, "status"] == "peers_fresh"


def _master(store: DeltaStore) -> pd.DataFrame:
    return store.read_support("symbols").to_pandas().set_index("symbol")


def test_symbol_missing_from_a_batch_is_retried_never_deactivated(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    td_state.drop_from_batch = {"MSFT": 2}  # left out of two batch answers, then answered
    td_state.malformed_batches = 1  # and one batch answer that is not an object at all
    store = DeltaStore(tmp_path / "wh")
    now = lambda: td_state.market_now  # noqa: E731
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        rep = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT", "SPY"], client=client, now=now)
    assert rep.not_found == {} and rep.failed == {}
    bars = store.read("stocks_daily_clean", columns=["symbol"]).to_pandas()
    assert set(bars["symbol"]) == {"AAPL", "MSFT", "SPY"}
    assert _master(store)["active"].all()
    # malformed (3 symbols), then MSFT alone twice (the fake drops it only from batches: answered the first time)
    sizes = [len(q["symbol"].split(",")) for p, q in td_state.requests if p == "/time_series"]
    assert sizes == [3, 3, 1]


def test_symbol_always_missing_fails_the_run_for_it_but_stays_active(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    td_state.malformed_batches = 99  # every batch answer malformed; single-symbol answers are fine
    store = DeltaStore(tmp_path / "wh")
    now = lambda: td_state.market_now  # noqa: E731
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        client.retry = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.05, seed=3)
        rep = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT"], client=client, now=now)
        assert rep.not_found == {} and set(rep.failed) == {"AAPL", "MSFT"}
        assert "not a JSON object" in rep.failed["AAPL"]
        state = store.read_support("ingest_state").to_pandas().set_index("symbol")
        assert (state.loc[["AAPL", "MSFT"], "status"] == "error").all()
        assert not store.read_support("symbols").num_rows or _master(store)["active"].all()
        td_state.malformed_batches = 0
        again = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "MSFT"], client=client, now=now)
    assert again.failed == {} and again.requested == 2  # asked again on the next run, and loaded
    assert set(store.read("stocks_daily_clean", columns=["symbol"]).to_pandas()["symbol"]) == {"AAPL", "MSFT"}


def _age_inactive(store: DeltaStore, symbol: str, days: float) -> None:
    import pyarrow as pa

    from marketlake.schema import SUPPORT_SCHEMAS

    row = next(r for r in store.read_support("symbols").to_pylist() if r["symbol"] == symbol)
    row["updated_at"] = pd.Timestamp.now(tz="UTC").to_pydatetime() - timedelta(days=days)
    store.upsert_support("symbols", pa.Table.from_pylist([row], schema=SUPPORT_SCHEMAS["symbols"]), keys=["symbol"])


def test_deactivated_symbol_is_rechecked_after_the_configured_days(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    store = DeltaStore(tmp_path / "wh")
    now = lambda: td_state.market_now  # noqa: E731
    asked = lambda: sum(q["symbol"].split(",").count("NOPE") for p, q in td_state.requests  # noqa: E731
                        if p == "/time_series")
    with FakeTwelveData(td_state) as fake, _client(fake.url, store) as client:
        ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "NOPE"], client=client, now=now)
        assert asked() == 1 and not _master(store).at["NOPE", "active"]
        _age_inactive(store, "NOPE", days=9)
        skipped = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "NOPE"], client=client, now=now,
                                    recheck_inactive_days=10)
        assert asked() == 1 and "NOPE" in skipped.not_found  # not due yet: no credit spent on it
        _age_inactive(store, "NOPE", days=11)
        still = ingest_twelvedata(store, "stocks_daily_clean", ["AAPL", "NOPE"], client=client, now=now,
                                  recheck_inactive_days=10)
        assert asked() == 2 and still.credits == 1 and "404" in still.not_found["NOPE"]
        ingest_twelvedata(store, "stocks_daily_clean", ["NOPE"], client=client, now=now, recheck_inactive_days=10)
        assert asked() == 2  # marked again just now: the next re-check is 10 days away
        td_state.listings["NOPE"] = date(2024, 3, 1)  # the vendor serves it now
        _age_inactive(store, "NOPE", days=11)
        back = ingest_twelvedata(store, "stocks_daily_clean", ["NOPE"], client=client, now=now,
                                 recheck_inactive_days=10)
    assert asked() == 3 and back.not_found == {} and back.rows_changed > 0
    master = _master(store)
    assert master.at["NOPE", "active"] and pd.isna(master.at["NOPE", "inactive_reason"])
