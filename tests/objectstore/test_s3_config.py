"""An s3:// warehouse configured in the `[storage]` section instead of the environment; SQL stays offline."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.cli.main import app
from marketlake.sources.redact import redact
from tests.objectstore.conftest import HAVE_MOTO, S3Server

pytestmark = pytest.mark.skipif(not HAVE_MOTO, reason='moto server not installed: pip install "moto[server]"')
T = "stocks_daily_clean"
SECRET = "sEcReT-only-in-the-config-file-42"


def test_storage_section_of_the_config_reaches_every_part(s3_server: S3Server, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(__import__("os").environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credential lookups beyond the config
    bucket = s3_server.bucket()
    # moto accepts any key pair: the secret below is what a real deployment would keep out of every output
    conf = tmp_path / "marketlake.toml"
    conf.write_text(f'warehouse = "s3://{bucket}/wh"\n[storage]\naws_access_key_id = "AKIDCONFIG"\n'
                    f'aws_secret_access_key = "{SECRET}"\naws_region = "us-east-1"\n'
                    f'aws_endpoint_url = "{s3_server.endpoint}"\naws_allow_http = "true"\n')
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "synthetic", "--table", T, "--stocks", "3", "--crypto", "0", "--start",
                              "2024-03-01", "--end", "2024-04-30", "--config", str(conf)])
    assert res.exit_code == 0, (res.output, res.exception)
    res = runner.invoke(app, ["sql", f"SELECT count(DISTINCT symbol) AS n FROM {T}", "--format", "json",
                              "--config", str(conf)])
    assert res.exit_code == 0 and json.loads(res.output) == [{"n": 3}], (res.output, res.exception)
    res = runner.invoke(app, ["config", "show", "--config", str(conf), "--format", "json"])
    assert res.exit_code == 0 and SECRET not in res.output
    shown = {r["setting"]: r["value"] for r in json.loads(res.output)}
    assert shown["storage.aws_endpoint_url"] == s3_server.endpoint
    assert shown["storage.aws_secret_access_key"].startswith("****")
    assert redact(f"a message quoting {SECRET}") == "a message quoting ***"
    res = runner.invoke(app, ["tables", "-w", f"s3://{bucket}/wh"])  # no config: no credentials, a clean error
    assert res.exit_code != 0 and SECRET not in (res.output + str(res.exception))


def test_sql_on_s3_reads_through_arrow_not_duckdb_httpfs(s3_root: str) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "synthetic", "--table", T, "--stocks", "2", "--crypto", "0", "--start",
                              "2024-03-01", "--end", "2024-03-29", "-w", s3_root])
    assert res.exit_code == 0, res.output
    wh = Warehouse(s3_root)
    assert wh.sql(f"SELECT count(*) AS n FROM {T}", as_="arrow").column("n")[0].as_py() > 0
    con = wh._con
    assert isinstance(con, duckdb.DuckDBPyConnection)
    views = con.sql("SELECT sql FROM duckdb_views() WHERE view_name = ?", params=[T]).fetchall()
    assert views and "s3://" not in views[0][0] and "__data_" in views[0][0]
    loaded = con.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
    assert ("httpfs",) not in loaded  # nothing to download: works offline


def test_missing_bucket_and_unreachable_store_are_clear_errors(s3_env: S3Server,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.errors import StorageError

    res = CliRunner().invoke(app, ["tables", "-w", "s3://no-such-bucket-here/wh"])
    assert isinstance(res.exception, StorageError) and "does not exist" in str(res.exception), res.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    res = CliRunner().invoke(app, ["janitor", "audit", "-w", "s3://some-bucket/wh"])
    assert isinstance(res.exception, StorageError), (res.output, res.exception)
    assert "AWS_ENDPOINT_URL" in str(res.exception) and "testing" not in str(res.exception)
