"""The same work on a local warehouse and on `s3://` against moto's S3 server on loopback.

What the object store costs beyond the local disk when the network is free: every file becomes HTTP
requests (moto in Python answers them, so this is an upper bound on per-request overhead, not S3's
throughput), every commit a conditional PUT, every write command a lock lease (two or three commits of
the lock log). Prints wall times side by side: a demo-shaped load of all six tables (smaller tiers
than `marketlake demo` unless `--full`), a one-symbol read, a SQL aggregate, the quality monitor, the
janitor's audit, and the writer lock taken and released.

    .venv/bin/python benchmarks/bench_object_store.py [--full]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start (pip install 'moto[server]')")


def _timed(label: str, fn, results: dict[str, dict[str, float]], where: str) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    results.setdefault(label, {})[where] = time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the tiers of `marketlake demo` (a few minutes each)")
    args = parser.parse_args()
    proc, endpoint = _server()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
                      AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true")
    import boto3

    from marketlake import Warehouse
    from marketlake.janitor import audit
    from marketlake.pipeline.demo import DEFAULT_TIERS, DemoTier, build_demo
    from marketlake.quality import QualityConfig, run_quality
    from marketlake.storage import DeltaStore

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    tiers = DEFAULT_TIERS if args.full else {
        "daily": DemoTier(stocks=30, crypto=6, days=3 * 365), "hourly": DemoTier(stocks=8, crypto=3, days=90),
        "1min": DemoTier(stocks=3, crypto=2, days=10)}
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for where, root in (("local", f"{tmp}/wh"), ("s3", "s3://bench/wh")):
                _timed("demo load (6 tables)", lambda r=root: build_demo(r, tiers=tiers, today=date(2026, 12, 1)),
                       results, where)
                _timed("demo re-run (no change)", lambda r=root: build_demo(r, tiers=tiers, today=date(2026, 12, 1)),
                       results, where)
                wh = Warehouse(root)
                _timed("read 1 symbol, daily", lambda w=wh: w.read("stocks_daily_clean", "AAPL"), results, where)
                _timed("sql aggregate, daily", lambda w=wh: w.sql(
                    "SELECT symbol, avg(rsi_14) FROM stocks_daily_clean GROUP BY 1"), results, where)
                store = DeltaStore(root)
                _timed("quality, daily table", lambda s=store: run_quality(
                    s, tables=["stocks_daily_clean"], config=QualityConfig(), record=False), results, where)
                _timed("janitor audit", lambda s=store: audit(s), results, where)

                def lock(s: DeltaStore = store) -> None:
                    for _ in range(10):
                        with s.writer_lock():
                            pass
                _timed("writer lock x10", lock, results, where)
    finally:
        proc.terminate()
    print(f"{'step':<28} {'local s':>9} {'s3 (moto) s':>12} {'ratio':>7}")
    for label, r in results.items():
        print(f"{label:<28} {r['local']:>9.2f} {r['s3']:>12.2f} {r['s3'] / max(r['local'], 1e-9):>7.1f}")


if __name__ == "__main__":
    main()
