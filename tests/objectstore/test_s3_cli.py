"""Every command on `s3://` against a real S3-protocol server on loopback, with only the AWS variables set.

Oracles: the same commands on a local warehouse give the same rows (the object store changes where the
bytes are, never what they are); the janitor's effect is checked by listing the bucket itself.

The module ingests its s3 warehouse once (`seeded`); each test gets its own copy of it in a new bucket
(`_copy`: server-side object copies, far cheaper than computing the load again), so no test sees what
another one wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.cli.main import app
from marketlake.errors import MarketlakeError
from marketlake.pipeline.demo import DemoTier, build_demo
from marketlake.quality import QualityConfig, run_quality
from marketlake.storage import DeltaStore
from marketlake.storage.location import UnsupportedLocation
from tests.objectstore.conftest import HAVE_MOTO, S3Server

needs_moto = pytest.mark.skipif(not HAVE_MOTO, reason='moto server not installed: pip install "moto[server]"')
T = "stocks_daily_clean"
INGEST = ["ingest", "synthetic", "--table", T, "--stocks", "4", "--crypto", "0", "--start", "2024-01-01",
          "--end", "2024-06-28"]


def _run(*args: str) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, (args, res.output, res.exception)
    return res.output


@pytest.fixture(scope="module")
def seeded(s3_server: S3Server) -> Iterator[str]:
    """`INGEST` into an s3 warehouse, once for the module; tests take copies (`_copy`), never this one."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in s3_server.env.items():
            mp.setenv(key, value)
        root = f"s3://{s3_server.bucket()}/wh"
        _run(*INGEST, "-w", root)
        yield root


def _copy(server: S3Server, root: str) -> str:
    """A copy of the warehouse `root` in a new bucket (every object, byte for byte)."""
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    src, prefix = root.removeprefix("s3://").split("/", 1)
    dst = server.bucket()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=src, Prefix=f"{prefix}/"):
        for obj in page.get("Contents", []):
            s3.copy_object(Bucket=dst, Key=obj["Key"], CopySource={"Bucket": src, "Key": obj["Key"]})
    return f"s3://{dst}/{prefix}"


def _rows(root: str, table: str = T) -> pa.Table:
    data = Warehouse(root).read(table, as_="arrow")
    return data.drop_columns(["updated_at"]).sort_by([("symbol", "ascending"), ("datetime", "ascending")])


def test_unsupported_uri_is_an_error_never_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-w s3:` used to create a local folder `s3:` and report success (the CLI prints a MarketlakeError
    as one `error:` line, exit status 2)."""
    monkeypatch.chdir(tmp_path)
    for bad in ("s3:", "ftp://host/wh", "s4://bucket/wh", "hdfs://nn/wh", "s3://"):
        res = CliRunner().invoke(app, [*INGEST, "-w", bad])
        assert isinstance(res.exception, UnsupportedLocation), (bad, res.output)
        assert "unsupported URI scheme" in str(res.exception) or "no bucket" in str(res.exception)
        with pytest.raises(UnsupportedLocation) as err:
            Warehouse(bad)
        assert isinstance(err.value, MarketlakeError)
    assert list(tmp_path.iterdir()) == []  # nothing created under the working directory


@needs_moto
def test_commands_on_s3_match_a_local_warehouse(seeded: str, s3_env: S3Server, tmp_path: Path) -> None:
    local = str(tmp_path / "wh")
    _run(*INGEST, "-w", local)
    s3_root = _copy(s3_env, seeded)
    s3_rows = _rows(s3_root)
    assert s3_rows.num_rows > 400 and s3_rows.equals(_rows(local))

    tables = json.loads(_run("tables", "-w", s3_root, "--json"))
    info = {t["name"]: t for t in tables}
    assert info[T]["rows"] == s3_rows.num_rows and info[T]["symbols"] == 4
    assert ".marketlake.lock" not in info  # the lock log is not a table

    q = "SELECT symbol, count(*) AS n, round(avg(rsi_14), 6) AS rsi FROM stocks_daily_clean GROUP BY 1 ORDER BY 1"
    got = {root: json.loads(_run("sql", q, "-w", root, "--format", "json")) for root in (local, s3_root)}
    assert got[s3_root] == got[local] and len(got[s3_root]) == 4
    assert json.loads(_run("sql", q, "-w", s3_root, "--format", "json", "--safe")) == got[local]

    # a re-run changes no row (idempotent upsert) and makes no commit
    version = DeltaStore(s3_root).version(T)
    _run(*INGEST, "-w", s3_root)
    assert DeltaStore(s3_root).version(T) == version

    reports = {}
    for root in (local, s3_root):
        res = CliRunner().invoke(app, ["quality", "-w", root, "--table", T, "--json", "--as-of", "2024-07-01"])
        assert res.exit_code in (0, 1), res.output  # 1: issues found; either way a report, no crash
        issues = json.loads(res.stdout)["issues"]
        reports[root] = sorted((i["check"], i["symbol"] or "", i.get("field") or "") for i in issues)
    assert reports[s3_root] == reports[local]
    assert "quality_runs" in DeltaStore(s3_root).table_names()  # support table written on the bucket


@needs_moto
def test_time_travel_on_s3(seeded: str, s3_env: S3Server) -> None:
    s3_root = _copy(s3_env, seeded)
    first = _rows(s3_root)
    _run(*INGEST[:-4], "--start", "2024-06-01", "--end", "2024-08-30", "--seed", "5", "-w", s3_root)
    assert _rows(s3_root).num_rows != first.num_rows
    wh = Warehouse(s3_root)
    old = wh.read(T, as_of=1, as_="arrow").drop_columns(["updated_at"])  # version 0 created the table
    assert old.sort_by([("symbol", "ascending"), ("datetime", "ascending")]).equals(first)
    got = json.loads(_run("sql", f"SELECT count(*) AS n FROM {T}", "-w", s3_root, "--as-of", "1", "--format",
                          "json"))
    assert got == [{"n": first.num_rows}]


@needs_moto
def test_janitor_and_retention_on_s3(seeded: str, s3_env: S3Server) -> None:
    s3_root = _copy(s3_env, seeded)
    # January (expired at --now 2026-02-01: two years are kept) and a few days of February (kept); each
    # day is a partition, and every object costs the janitor requests
    _run("ingest", "synthetic", "--table", "stocks_hourly_clean", "--stocks", "2", "--crypto", "0",
         "--start", "2024-01-02", "--end", "2024-02-07", "-w", s3_root)
    store = DeltaStore(s3_root)
    fs, base = store.filesystem, store.table_root("")
    # leftovers of the old design and an orphan data file of a killed write
    pq.write_table(pa.table({"symbol": ["A"], "close": [1.0]}), f"{base}/temp_GOOGL/part-0.parquet", filesystem=fs)
    pq.write_table(pa.table({"symbol": ["A"], "close": [1.0]}), f"{base}/archive/v2_stocks_daily/p.parquet",
                   filesystem=fs)
    some = next(f for f in store.file_index(T).paths)
    orphan = f"{store.table_root(T)}/{some.rsplit('/', 1)[0]}/part-dead-killedwrite-c000.lz4.parquet"
    fs.copy_file(f"{store.table_root(T)}/{some}", orphan)

    audit = {e["name"]: e for e in json.loads(_run("janitor", "audit", "-w", s3_root, "--json"))}
    assert audit[T]["class"] == "production" and audit[T]["rows"] == store.table_info(T).rows
    assert audit["temp_GOOGL"]["class"] == "temp" and "archive/v2_stocks_daily" in audit
    plan = json.loads(_run("janitor", "plan", "-w", s3_root, "--json", "--vacuum-hours", "0"))
    actions = {(e["name"], e["action"]) for e in plan}
    assert {("temp_GOOGL", "remove"), (T, "vacuum")} <= actions, plan
    assert fs.get_file_info(orphan).type == pafs.FileType.File  # a plan changes nothing

    before = _rows(s3_root)
    _run("janitor", "apply", "-w", s3_root, "--yes", "--vacuum-hours", "0")
    assert fs.get_file_info(orphan).type == pafs.FileType.NotFound
    assert fs.get_file_info(f"{base}/temp_GOOGL/part-0.parquet").type == pafs.FileType.NotFound
    assert _rows(s3_root).equals(before)  # production rows untouched

    hourly = DeltaStore(s3_root).table_info("stocks_hourly_clean")
    plan = json.loads(_run("retention", "-w", s3_root, "--now", "2026-02-01T00:00:00+00:00", "--table", "stocks_hourly_clean",
                           "--json"))
    assert 0 < sum(e["rows"] for e in plan) < hourly.rows  # January only: older than two years
    _run("retention", "-w", s3_root, "--now", "2026-02-01T00:00:00+00:00", "--table", "stocks_hourly_clean", "--yes")
    assert DeltaStore(s3_root).table_info("stocks_hourly_clean").rows == hourly.rows - sum(e["rows"] for e in plan)


@needs_moto
def test_demo_on_s3_passes_its_own_monitor(s3_root: str) -> None:
    tiers = {"daily": DemoTier(stocks=3, crypto=1, days=120), "hourly": DemoTier(stocks=2, crypto=1, days=10),
             "1min": DemoTier(stocks=1, crypto=1, days=3)}
    build_demo(s3_root, tiers=tiers, today=date(2026, 12, 1))
    store = DeltaStore(s3_root)
    assert set(store.table_names()) >= {T, "crypto_1min_clean", "symbols"}
    rep = run_quality(store, tables=[T, "crypto_daily_clean"], config=QualityConfig(), record=True)
    assert not [i for i in rep.issues if i.severity == "error"], [i.detail for i in rep.issues]
