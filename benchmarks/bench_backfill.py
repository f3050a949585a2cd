"""Simulated backfill of 2,650 daily symbols at the pro plan against the loopback fake TwelveData.

Measures what the credit budget promises: zero credits over the per-minute limit on the server's
side, and wall time close to the theoretical minimum. Bars are fetched, parsed and converted (client,
budget, fetcher with its read-ahead); storage is out of scope here (see the pipeline benchmark).

The theoretical minimum is the credits needed divided by the plan's credits per vendor minute, in
vendor minutes, *not* rounded up to whole minutes (2,650 / 1,597 = 1.66 minutes; rounding up to 2
would flatter the ratio by 20%). The vendor counts credits per clock minute, so a run touches at
least ceil(credits / limit) of them; and the budget lets its bucket (`burst`, 120 credits) go out at
once before pacing the rest at the plan rate, so a paced run can finish at best (credits - burst) /
limit minutes: a ratio a little below 1.000 is that head start, not a run faster than the plan allows.

The vendor minute is compressed (default 15 s, or `MARKETLAKE_MINUTE_SECONDS`, or `--minute-seconds`):
that leaves ~1.1 s between two 120-credit requests at the pro rate, against ~4.5 s with the real
60 s minute, so conversion speed matters more here than in production.

    .venv/bin/python benchmarks/bench_backfill.py [--symbols 2650] [--minute-seconds 15] [--plan pro] [--store]

`--store` runs the whole `ingest_twelvedata` into a temporary warehouse: backfill pages load only their
own symbols and the sector/benchmark fields of peers are refreshed once at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketlake.pipeline.vendor_ingest import ingest_twelvedata  # noqa: E402
from marketlake.schema import get_table  # noqa: E402
from marketlake.sources.budget import CreditBudget, plan_limits  # noqa: E402
from marketlake.sources.twelvedata.client import MAX_BATCH, TwelveDataClient  # noqa: E402
from marketlake.sources.twelvedata.fetcher import fetch_window  # noqa: E402
from marketlake.storage import DeltaStore  # noqa: E402
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData, make_values  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=2_650)
    ap.add_argument("--minute-seconds", type=float,
                    default=float(os.environ.get("MARKETLAKE_MINUTE_SECONDS", "15")))
    ap.add_argument("--plan", default="pro")
    ap.add_argument("--prefetch", type=int, default=1, help="pages fetched ahead of the caller (0: none)")
    ap.add_argument("--store", action="store_true",
                    help="end to end: `ingest_twelvedata` into a temporary warehouse (validate, features, Delta "
                         "writes, ingest_state) instead of fetching and converting only")
    args = ap.parse_args()
    limits = plan_limits(args.plan)
    per_min, minute_s = limits.credits_per_minute, args.minute_seconds
    table = get_table("stocks_daily_clean")
    now = datetime(2024, 11, 5, 22, tzinfo=UTC)
    symbols = [f"S{i:04d}" for i in range(args.symbols)]
    state = FakeState(api_key="bench-key", credits_per_minute=per_min, minute_seconds=minute_s,
                      market_now=now, listings={s: date(2021, 10, 1) for s in symbols})
    t0 = time.perf_counter()
    for s in symbols:  # pre-render the fake's answers so the server is not the bottleneck
        make_values(state, s, "1day")
    per_symbol = len(make_values(state, symbols[0], "1day"))
    print(f"fake data ready: {args.symbols} symbols x {per_symbol} bars ({time.perf_counter() - t0:.1f}s)")
    with FakeTwelveData(state) as fake:
        budget = CreditBudget("twelvedata", limits=limits, minute_seconds=minute_s,
                              burst=min(MAX_BATCH, per_min))
        client = TwelveDataClient(api_key="bench-key", budget=budget, base_url=fake.url, timeout_s=60)
        start = now - timedelta(days=table.history_days)
        bars = 0
        t0 = time.perf_counter()
        if args.store:
            with tempfile.TemporaryDirectory() as tmp:
                report = ingest_twelvedata(DeltaStore(tmp), table, symbols, client=client, now=lambda: now,
                                           prefetch=args.prefetch)
                bars = report.rows_changed
        else:
            for result in fetch_window(client, symbols, table, start=start, now=lambda: now, batch_size=MAX_BATCH,
                                       prefetch=args.prefetch):
                bars += len(result.bars)
        wall = time.perf_counter() - t0
        client.close()
    needed = budget.total_credits
    minutes = needed / per_min
    theory = minutes * minute_s
    floor = max(needed - budget.burst, 0) / per_min * minute_s
    over = sum(max(0, c - per_min) for c in state.per_window.values())
    print(f"plan {limits.name}: {per_min}/min, vendor minute {minute_s}s, budget burst {budget.burst} credits, "
          f"read-ahead {args.prefetch} page(s); "
          + ("end to end into a Delta warehouse (bars = rows written)" if args.store else "fetch + convert only"))
    print(f"credits used: client {needed}, server {state.credits_total}; requests {client.requests_sent}; bars {bars:,}")
    print(f"limit violations (429s): {state.violations}; credits over the limit in any minute: {over}")
    print(f"vendor minutes with spend: {len(state.per_window)} (at least ceil({needed}/{per_min}) = "
          f"{math.ceil(needed / per_min)}); max credits in one: {max(state.per_window.values())}")
    print(f"theoretical minimum = credits needed / credits per minute = {needed} / {per_min} = {minutes:.3f} "
          f"vendor minutes = {theory:.2f}s (not rounded up to whole minutes)")
    print(f"paced floor = (credits - burst) / credits per minute = {floor:.2f}s (ratio {floor / theory:.3f}: "
          f"the budget's initial burst, the best a paced run can do)")
    print(f"client waited {budget.waited_s:.2f}s for credits; the other {wall - budget.waited_s:.2f}s went to "
          "sending, receiving, decoding and converting")
    print(f"wall time {wall:.2f}s, theoretical minimum {theory:.2f}s, ratio {wall / theory:.3f} "
          f"(target <= 1.05); vs the paced floor {wall / floor:.3f}")
    ok = state.violations == 0 and over == 0 and wall / theory <= 1.05
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
