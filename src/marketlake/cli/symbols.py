"""`marketlake symbols load|update|list`: the symbol master from reference files.

Loading merges the reference files (see marketlake.sources.reference) and upserts them into the
`symbols` support table by symbol, keeping what the pipeline recorded for known symbols (first/last
bar per table, active flags): reference files only fill the metadata columns. Then the stored bars
follow the master: those whose metadata changed are rewritten (one commit per table).
Without arguments the three lists are the downloaded copies (`symbols update`) if any, else the
dated snapshots shipped in the package, so the command works from any directory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow as pa
import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, split_symbols
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, print_grid
from marketlake.config import load_config
from marketlake.errors import ConfigError
from marketlake.schema import METADATA_COLUMNS, SUPPORT_SCHEMAS
from marketlake.sources.reference import (
    default_reference_files,
    load_reference,
    merge_reference,
    update_reference,
)

symbols_app = typer.Typer(help="The symbol master (`symbols` support table).", no_args_is_help=True)
ConfigOption = Annotated[str | None, typer.Option("--config", help="marketlake.toml ([reference] urls, dir).")]


def default_files(directory: str | None = None) -> list[Path]:
    """The three reference lists: downloaded by `symbols update` if present, else the shipped snapshots."""
    return default_reference_files(directory)


def symbols_table(merged: pd.DataFrame, existing: pa.Table, *, now: datetime) -> pa.Table:
    """Rows for the `symbols` table: reference metadata over the existing rows of the same symbols."""
    schema = SUPPORT_SCHEMAS["symbols"]
    new = merged.set_index("symbol")
    old = existing.to_pandas().set_index("symbol") if existing.num_rows else pd.DataFrame(index=pd.Index([], name="symbol"))
    out = old.reindex(new.index.union(old.index)) if len(old) else pd.DataFrame(index=new.index)
    for c in (*METADATA_COLUMNS, "metadata_source"):
        fresh = new[c].reindex(out.index) if c in new else None
        out[c] = fresh.combine_first(out[c]) if (fresh is not None and c in out) else fresh
    out = out.loc[new.index]  # only the loaded symbols are written; others stay untouched
    if "active" not in out or out["active"].isna().all():
        out["active"] = True
    out["updated_at"] = now
    frame = out.reset_index()
    cols = {f.name: frame[f.name] if f.name in frame else None for f in schema}
    arrays = [pa.array(cols[f.name] if cols[f.name] is not None else [None] * len(frame), type=f.type, from_pandas=True)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def load(
    files: Annotated[list[Path] | None, typer.Argument(help="Reference CSV files (format detected).")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    config_file: ConfigOption = None,
) -> None:
    """Load reference files into the symbol master (default: the S&P 500 and NASDAQ Trader lists), then
    rewrite the stored bars whose metadata changed."""
    from marketlake.pipeline.metadata import follow_master
    from marketlake.storage import DeltaStore

    paths = list(files or default_files(load_config(config_file).reference.dir))
    if not paths:
        raise ConfigError("no reference files given")
    merged = merge_reference([load_reference(p) for p in paths])
    store = DeltaStore(warehouse)
    with store.writer_lock():  # read..upsert: a load recording first/last bars meanwhile must not be undone
        rows = symbols_table(merged, store.read_support("symbols"), now=datetime.now(UTC))
        store.upsert_support("symbols", rows, keys=["symbol"])
    out = console()
    out.print(f"loaded {rows.num_rows} symbols from {len(paths)} file(s) into {warehouse}")
    with current().reporter().task("bars follow the symbol master", unit="tables") as task:
        reports = follow_master(store, progress=task.stage)
    for rep in reports:
        out.print(f"{rep.table}: {rep.updated:,} bars rewritten with the master's metadata "
                  f"({rep.symbols_computed} symbols recomputed, version {rep.version})")


def update(
    config_file: ConfigOption = None,
    directory: Annotated[str | None, typer.Option("--dir", help="Where to keep the lists (default: [reference] "
                                                  "dir, else ~/.local/share/marketlake/reference).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per download.")] = 30.0,
) -> None:
    """Download current S&P 500 and NASDAQ Trader lists; `symbols load` and `sp500` use them from then on."""
    cfg = load_config(config_file).reference
    done = update_reference(urls=cfg.urls, directory=directory or cfg.dir, timeout_s=timeout)
    out = console()
    for u in done:
        out.print(f"{u.kind}: {u.symbols:,} symbols from {u.url} -> {u.path}")
    out.print("Run `marketlake symbols load` to bring the symbol master (and the bars) up to date.")


def list_symbols(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    limit: Annotated[int, typer.Option(help="Rows to show (0: all).")] = 50,
    sector: Annotated[str | None, typer.Option(help="Only this sector.")] = None,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Only these symbols (comma-separated).")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """List the symbol master."""
    from marketlake.storage import DeltaStore

    frame = DeltaStore(warehouse).read_support("symbols").to_pandas()
    if sector:
        frame = frame[frame["sector"] == sector]
    wanted = split_symbols(symbols)
    if wanted:
        frame = frame[frame["symbol"].isin(wanted)]
    frame = frame.sort_values("symbol")
    if fmt is not Format.table or output is not None:  # files and programs get every row and column
        emit(pa.Table.from_pandas(frame, preserve_index=False), fmt=fmt, output=output)
        return
    shown = frame if limit <= 0 else frame.head(limit)
    table = Table(title=f"symbols ({len(frame)})" + (f", first {limit} shown" if 0 < limit < len(frame) else ""))
    cols = ("symbol", "name", "asset_type", "exchange", "mic_code", "sector", "industry")
    for c in cols:
        table.add_column(c)
    for row in shown.itertuples(index=False):
        table.add_row(*("" if pd.isna(getattr(row, c)) else str(getattr(row, c)) for c in cols))
    print_grid(table)


def register(app: typer.Typer) -> None:
    symbols_app.command("load")(load)
    symbols_app.command("update")(update)
    symbols_app.command("list")(list_symbols)
    app.add_typer(symbols_app, name="symbols")
