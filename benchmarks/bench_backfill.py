"""Simulated backfill of 2,650 daily symbols at the pro plan against the loopback fake TwelveData.

Measures what the credit budget promises: zero credits over the per-minute limit on the server's
side, and wall time close to the theoretical minimum (credits needed / credits per minute). The
vendor minute defaults to the real 60 s because parsing 2 M bars on a shared 2-core box takes ~60 s; a
compressed minute (`--minute-seconds`) measures parse throughput instead of pacing. Bars are fetched, parsed and converted (client,
budget, fetcher); storage is out of scope here (see the pipeline benchmark).

    .venv/bin/python benchmarks/bench_backfill.py [--symbols 2650] [--minute-seconds 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketlake.schema import get_table  # noqa: E402
from marketlake.sources.budget import CreditBudget, plan_limits  # noqa: E402
from marketlake.sources.twelvedata.client import MAX_BATCH, TwelveDataClient  # noqa: E402
from marketlake.sources.twelvedata.fetcher import fetch_window  # noqa: E402
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData, make_values  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=2_650)
    ap.add_argument("--minute-seconds", type=float, default=60.0)
    ap.add_argument("--plan", default="pro")
    args = ap.parse_args()
    limits = plan_limits(args.plan)
    table = get_table("stocks_daily_clean")
    now = datetime(2024, 11, 5, 22, tzinfo=timezone.utc)
    symbols = [f"S{i:04d}" for i in range(args.symbols)]
    state = FakeState(api_key="bench-key", credits_per_minute=limits.credits_per_minute,
                      minute_seconds=args.minute_seconds, market_now=now,
                      listings={s: date(2021, 10, 1) for s in symbols})
    t0 = time.perf_counter()
    for s in symbols:  # pre-render the fake's answers so the server is not the bottleneck
        make_values(state, s, "1day")
    print(f"fake data ready: {args.symbols} symbols x {len(make_values(state, symbols[0], '1day'))} bars "
          f"({time.perf_counter() - t0:.1f}s)")
    with FakeTwelveData(state) as fake:
        budget = CreditBudget("twelvedata", limits=limits, minute_seconds=args.minute_seconds,
                              burst=min(MAX_BATCH, limits.credits_per_minute))
        client = TwelveDataClient(api_key="bench-key", budget=budget, base_url=fake.url, timeout_s=60)
        start = now - timedelta(days=table.history_days)
        bars = 0
        t0 = time.perf_counter()
        for result in fetch_window(client, symbols, table, start=start, now=lambda: now, batch_size=MAX_BATCH):
            bars += len(result.bars)
        wall = time.perf_counter() - t0
        client.close()
    needed = budget.total_credits
    theory = needed / limits.credits_per_minute * args.minute_seconds
    over = sum(max(0, c - limits.credits_per_minute) for c in state.per_window.values())
    print(f"plan {limits.name}: {limits.credits_per_minute}/min, vendor minute {args.minute_seconds}s")
    print(f"credits used: client {needed}, server {state.credits_total}; requests {client.requests_sent}; bars {bars:,}")
    print(f"limit violations (429s): {state.violations}; credits over the limit in any minute: {over}")
    print(f"max credits in one vendor minute: {max(state.per_window.values())}")
    print(f"wall time {wall:.2f}s, theoretical minimum {theory:.2f}s, ratio {wall / theory:.3f}")
    ok = state.violations == 0 and over == 0 and abs(wall / theory - 1) <= 0.05
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
