"""Full rebuild of a daily table: the local executor against Dask on 1 and 2 workers, local disk and s3://.

The build runs the grouped plan (`pipeline.grouped.load_grouped`): symbol groups under the memory budget,
each computing the 97 fields and writing its Parquet files straight to the table's storage, then one
Delta commit by the driver. Printed: wall time and rows/s per executor, CPU time (user+sys of the driver,
every Dask worker and, on s3://, the moto server: the machine is shared, so CPU says what the work cost
when wall time says how busy the cores were), the scaling efficiency against the local executor (Dask on
N workers / N), and the same on s3:// against moto's S3 server on loopback.
The peer is the local executor measured in the same run. Full size: 2,650 symbols x 756 sessions (2 M
rows, `--full`); the default is 400 symbols for a quick run.

    .venv/bin/python benchmarks/bench_rebuild.py [--full] [--no-s3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TABLE = "stocks_daily_clean"
START, END = datetime(2023, 12, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)  # ~756 sessions


def _batches(stocks: int):  # type: ignore[no-untyped-def]
    from marketlake.schema import get_table
    from marketlake.sources.registry import get_source

    return list(get_source("synthetic", stocks=stocks, crypto=2, seed=7).fetch(None, get_table(TABLE), start=START,
                                                                            end=END))


def _cpu_seconds() -> float:
    """User+sys CPU seconds of the calling process (run on each Dask worker too)."""
    t = os.times()
    return t.user + t.system


def _cpu(executor: object | None, server: object | None) -> float:
    """CPU seconds so far of this process, the executor's workers and the moto server."""
    total = _cpu_seconds()
    client = getattr(executor, "_client", None)
    if client is not None:
        total += sum(client.run(_cpu_seconds).values())
    if server is not None:
        import psutil

        t = psutil.Process(server.pid).cpu_times()  # type: ignore[attr-defined]
        total += t.user + t.system
    return total


def _build(root: str, batches: list, executor: object | None, budget: str,  # type: ignore[type-arg]
           server: object | None) -> tuple[float, float, int]:
    from marketlake.pipeline.grouped import load_grouped
    from marketlake.storage import DeltaStore

    store = DeltaStore(root)
    cpu = _cpu(executor, server)
    t = time.perf_counter()
    report = load_grouped(store, TABLE, batches, source="synthetic", memory_budget=budget,
                          executor=executor)  # type: ignore[arg-type]
    wall = time.perf_counter() - t
    return wall, _cpu(executor, server) - cpu, report.inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="2,650 symbols (2 M rows)")
    parser.add_argument("--no-s3", action="store_true", help="skip the s3:// runs")
    parser.add_argument("--s3-only", action="store_true", help="only the s3:// runs (local disk measured apart)")
    parser.add_argument("--budget", default="800M", help="memory budget deciding the group size (default 800M)")
    args = parser.parse_args()
    from marketlake.pipeline.executors import DaskExecutor, LocalExecutor

    stocks = 2650 if args.full else 400
    batches = _batches(stocks)
    rows = sum(len(b.bars) for b in batches)
    print(f"full build of {TABLE}: {stocks} symbols, {rows:,} bars, memory budget {args.budget}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    targets: list[tuple[str, str | None]] = [] if args.s3_only else [("local disk", None)]
    server = None
    if not args.no_s3:
        try:
            import boto3
            from bench_object_store import _server  # the loopback moto server of the object-store benchmark

            server, endpoint = _server()
            env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                   "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true"}
            os.environ.update(env)
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
            targets.append(("s3 (moto)", "s3://bench"))
        except ImportError:
            print("s3 runs skipped: moto is not installed (pip install 'moto[server]')")
    try:
        for where, base in targets:
            results: dict[str, float] = {}
            for name, make in (("local", lambda: LocalExecutor()), ("dask x1", lambda: DaskExecutor(workers=1)),
                               ("dask x2", lambda: DaskExecutor(workers=2))):
                with make() as ex:
                    if isinstance(ex, DaskExecutor):
                        ex.warm_up()  # start the cluster and load the kernels on every worker outside the timing
                    root = f"{base}/{name.replace(' ', '-')}" if base else tempfile.mkdtemp(prefix="bench-rebuild-")
                    seconds, cpu, written = _build(root, batches, ex, args.budget, server if base else None)
                if not base:
                    shutil.rmtree(root, ignore_errors=True)
                results[name] = seconds
                print(f"  {where:10} {name:8} {seconds:7.1f} s wall  {cpu:7.1f} s CPU  "
                      f"{written / seconds / 1e3:7.1f} k rows/s  (load average {os.getloadavg()[0]:.1f})", flush=True)
            base_s = results["local"]
            for name, n in (("dask x1", 1), ("dask x2", 2)):
                speed = base_s / results[name]
                print(f"  {where:10} {name}: {speed:.2f}x the local executor, scaling efficiency {speed / n:.0%}")
    finally:
        if server is not None:
            server.kill()


if __name__ == "__main__":
    main()
