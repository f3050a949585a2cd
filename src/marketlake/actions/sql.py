"""The read views in SQL: `<table>_raw` (as traded) and `<table>_total_return` beside each table's view.

Same factors as `adjust.py`, written over the `corporate_actions` view so `marketlake sql` and
`Warehouse.sql` see what `read(adjust=...)` returns: `SELECT * FROM stocks_daily_clean_raw WHERE ...`.
A bar's day is its UTC date (days since the epoch on both sides of the comparison).
"""

from __future__ import annotations

import duckdb

from marketlake.schema import SUPPORT_SCHEMAS, TABLE_NAMES

SUFFIXES = ("_raw", "_total_return")


def needed_tables(text: str) -> set[str]:
    """Views a query needs beyond those it names: an adjusted view needs corporate_actions."""
    text = text.lower()
    return {"corporate_actions"} if any(f"{t}{s}" in text for t in TABLE_NAMES for s in SUFFIXES) else set()


def _splits(table: str) -> str:
    done = f'%"{table}": {{"state": "done"}}%'
    return (f"SELECT symbol, datediff('day', DATE '1970-01-01', date) AS day, ln(from_factor / to_factor) AS lf "
            f"FROM corporate_actions WHERE kind = 'split' AND status = 'confirmed' AND from_factor > 0 "
            f"AND to_factor > 0 AND (applied_at IS NOT NULL OR applied_tables LIKE '{done}')")


def _bars(table: str) -> str:
    return f'SELECT *, epoch_us("datetime") // 86400000000 AS _day FROM "{table}"'


def raw_view(table: str) -> str:
    """`<table>_raw`: prices / F and volume * F, F the product of later applied splits' price factors."""
    factor = "coalesce((SELECT exp(sum(s.lf)) FROM _s s WHERE s.symbol = b.symbol AND b._day < s.day), 1.0)"
    return (f'CREATE OR REPLACE VIEW "{table}_raw" AS WITH _s AS ({_splits(table)}), _b AS ({_bars(table)}) '
            f"SELECT * EXCLUDE (_f, _day) REPLACE (open / _f AS open, high / _f AS high, low / _f AS low, "
            f"close / _f AS close, volume * _f AS volume) FROM (SELECT b.*, {factor} AS _f FROM _b b)")


def total_return_view(table: str) -> str:
    """`<table>_total_return`: prices x product over later ex-dates of close_d / (close_d + dividend)."""
    pf = "coalesce((SELECT exp(sum(s.lf)) FROM _s s WHERE s.symbol = a.symbol AND a.t_day < s.day), 1.0)"
    return (
        f'CREATE OR REPLACE VIEW "{table}_total_return" AS WITH _s AS ({_splits(table)}), _b AS ({_bars(table)}), '
        "_d AS (SELECT symbol, datediff('day', DATE '1970-01-01', date) AS day, amount FROM corporate_actions "
        "WHERE kind = 'dividend' AND status = 'confirmed' AND amount > 0), "
        "_a AS (SELECT d.symbol, d.day, d.amount, arg_min(b.close, b.datetime) AS c_at, min(b._day) AS t_day "
        "FROM _d d JOIN _b b ON b.symbol = d.symbol AND b._day >= d.day AND b.close > 0 "
        "WHERE EXISTS (SELECT 1 FROM _b p WHERE p.symbol = d.symbol AND p._day < d.day AND p.close > 0) "
        "GROUP BY d.symbol, d.day, d.amount), "
        f"_r AS (SELECT a.symbol, a.day, ln(a.c_at / (a.c_at + a.amount * {pf})) AS lr FROM _a a) "
        "SELECT * EXCLUDE (_f, _day) REPLACE (open * _f AS open, high * _f AS high, low * _f AS low, "
        "close * _f AS close) FROM (SELECT b.*, coalesce((SELECT exp(sum(r.lr)) FROM _r r WHERE r.symbol = b.symbol "
        "AND b._day < r.day), 1.0) AS _f FROM _b b)"
    )


def create_adjusted_views(con: duckdb.DuckDBPyConnection, text: str, present: set[str]) -> None:
    """(Re)create the adjusted views the query names, over the tables present (their views exist)."""
    text = text.lower()
    wanted = [(t, s) for t in TABLE_NAMES for s in SUFFIXES if f"{t}{s}" in text and t in present]
    if not wanted:
        return
    if "corporate_actions" not in present:  # no action recorded yet: an empty view with the schema
        con.register("__empty_corporate_actions", SUPPORT_SCHEMAS["corporate_actions"].empty_table())
        con.execute('CREATE OR REPLACE VIEW "corporate_actions" AS SELECT * FROM "__empty_corporate_actions"')
    for table, suffix in wanted:
        con.execute(raw_view(table) if suffix == "_raw" else total_return_view(table))


__all__ = ["SUFFIXES", "create_adjusted_views", "needed_tables", "raw_view", "total_return_view"]
