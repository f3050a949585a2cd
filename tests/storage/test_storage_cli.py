"""`marketlake tables` and `marketlake sql` through Typer's CliRunner."""

from __future__ import annotations

import json

import typer
from storage_synth import synthetic_bars
from typer.testing import CliRunner

from marketlake.cli import sql as sql_cmd
from marketlake.cli import tables as tables_cmd


def _app() -> typer.Typer:
    app = typer.Typer()
    tables_cmd.register(app)
    sql_cmd.register(app)
    return app


def test_tables_and_sql_commands(store):
    store.write_bars("stocks_daily_clean", synthetic_bars(["AAA", "BBB"], periods=10))
    runner = CliRunner()
    res = runner.invoke(_app(), ["tables", "--warehouse", store.root, "--json"])
    assert res.exit_code == 0, res.output
    info = {t["name"]: t for t in json.loads(res.output)}
    assert info["stocks_daily_clean"]["rows"] == 20 and info["stocks_daily_clean"]["symbols"] == 2
    res = runner.invoke(_app(), ["tables", "--warehouse", store.root])
    assert res.exit_code == 0 and "stocks_daily_clean" in res.output
    q = "SELECT symbol, count(*) AS n FROM stocks_daily_clean GROUP BY symbol ORDER BY symbol"
    res = runner.invoke(_app(), ["sql", q, "--warehouse", store.root, "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"symbol": "AAA", "n": 10}, {"symbol": "BBB", "n": 10}]
    res = runner.invoke(_app(), ["sql", q, "--warehouse", store.root, "--format", "csv"])
    assert res.output.splitlines()[0].replace('"', "") == "symbol,n"
    res = runner.invoke(_app(), ["sql", q, "--warehouse", store.root])
    assert res.exit_code == 0 and "AAA" in res.output
