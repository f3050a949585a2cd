"""`marketlake dataset build|verify|audit`: leak-free datasets from a pinned table version."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from marketlake.cli.common import console, split_symbols
from marketlake.cli.options import current, resolve_warehouse
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, print_grid, records_to_table
from marketlake.errors import ConfigError

dataset_app = typer.Typer(help="Build, verify and audit datasets for models (features, labels, folds).",
                          no_args_is_help=True)

WarehouseArg = Annotated[Path | None, typer.Option(
    "--warehouse", "-w", envvar="MARKETLAKE_WAREHOUSE",
    help="Warehouse directory (default ./warehouse; with --from-manifest: the manifest's).", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _summary(ds: object) -> None:
    from marketlake.datasets import Dataset

    assert isinstance(ds, Dataset)
    m = ds.manifest
    out = console()
    src = m["source"]
    out.print(f"{ds.path}: {m['rows']:,} rows, {m['symbols']} symbols, {m['datetimes']} datetimes "
              f"({m['first_datetime'][:10]}..{m['last_datetime'][:10]}), {len(ds.feature_columns)} features, "
              f"labels {', '.join(ds.label_columns)}; {src['table']} version {src['version']} "
              f"({src['timestamp'][:19]}); built in {m['build_seconds']['total']:.2f} s "
              f"(read {m['build_seconds']['read']:.2f} s)")
    if m["folds"]:
        t = Table(title=f"folds ({m['config']['splits']})")
        for c in ("fold", "train", "test", "purged", "embargoed", "train until", "test window"):
            t.add_column(c, justify="right")
        from datetime import UTC, datetime

        def day(us: int | None) -> str:
            return "-" if us is None else datetime.fromtimestamp(us / 1e6, tz=UTC).date().isoformat()

        for f in m["folds"]:
            t.add_row(str(f["fold"]), f"{f['train_rows']:,}", f"{f['test_rows']:,}", f"{f['purged_rows']:,}",
                      f"{f['embargoed_rows']:,}", day(f["train_end"]), f"{day(f['test_start'])}..{day(f['test_end'])}")
        out.print(t)
    out.print(f"content hash {m['content_hash']}")


def build_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory to write (Parquet + manifest.json).")],
    table: Annotated[str | None, typer.Option("--table", "-t", help="Production table, e.g. stocks_daily_clean.")] = None,
    universe: Annotated[str | None, typer.Option("--universe", "-u", help="Named universe (config or built-in).")] = None,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols.")] = None,
    membership: Annotated[Path | None, typer.Option(
        "--membership", help="CSV symbol,start,end: a symbol is in the sample only while a member.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First datetime (ISO, inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last datetime (ISO, inclusive).")] = None,
    features: Annotated[str | None, typer.Option(
        "--features", help="Comma-separated feature fields (default: every numeric catalogue field).")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="kind:params, repeatable: fwd_return:5, fwd_log_return:5, excess_return:h=5[,benchmark=mean], "
                        "sign:5, threshold:h=5,up=0.01,down=0.01, triple_barrier:h=10,mult=2,vol=20.")] = None,
    splits: Annotated[str, typer.Option(
        "--splits", help="walk_forward:folds=5,embargo=5[,mode=rolling,window=N] or kfold:folds=5,embargo=5; "
                         "'none' for no folds.")] = "walk_forward:folds=5,embargo=5",
    transform: Annotated[list[str] | None, typer.Option(
        "--transform", help="Cross-sectional transform of every feature, repeatable, in order: rank, zscore, "
                            "winsorize:p=0.01.")] = None,
    missing: Annotated[str, typer.Option("--missing", help="Missing features: keep (NULL), drop (the row) or "
                                                           "impute (the datetime's median).")] = "keep",
    from_manifest: Annotated[Path | None, typer.Option(
        "--from-manifest", help="Rebuild exactly this dataset (its configuration, at its pinned version).")] = None,
    version: Annotated[int | None, typer.Option("--version", help="Read this Delta version of the table.")] = None,
    warehouse: WarehouseArg = None,
) -> None:
    """Build a dataset: features at t, labels from bars t+1..t+h, purged and embargoed folds, manifest."""
    from marketlake.datasets import build, rebuild
    from marketlake.datasets import manifest as _manifest

    if from_manifest is not None:
        if table or universe or symbols or label or start or end or features or transform or membership:
            raise ConfigError("--from-manifest rebuilds the recorded configuration: drop the other dataset options")
        original = _manifest.load(from_manifest)
        with current().reporter().task("dataset rebuild", unit="steps") as task:
            ds = rebuild(from_manifest, out=out, warehouse=warehouse, progress=task.stage)
        _summary(ds)
        if ds.manifest["content_hash"] != original["content_hash"]:
            console(stderr=True).print(f"[red]the rebuild differs from {from_manifest}[/red]: content hash "
                                       f"{ds.manifest['content_hash'][:16]} != {original['content_hash'][:16]}")
            raise typer.Exit(1)
        console().print(f"identical to {from_manifest} (content hash {original['content_hash'][:16]}...)")
        return
    if not table:
        raise ConfigError("give --table (e.g. stocks_daily_clean) or --from-manifest DIR/manifest.json")
    with current().reporter().task("dataset build", unit="steps") as task:
        ds = build(
            warehouse if warehouse is not None else Path(resolve_warehouse(None, current().config)), table=table,
            start=start, end=end,
            symbols=split_symbols(symbols), universe=universe, membership=membership,
            features=split_symbols(features), labels=label or None,
            splits=None if splits.strip().lower() == "none" else splits, transforms=transform or None,
            missing=missing, out=out, version=version, progress=task.stage,
        )
    _summary(ds)


def verify_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset directory.")],
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Check a dataset against its manifest: files, sizes, row counts, hashes. Exit 0 when intact."""
    from marketlake.datasets import verify

    v = verify(path)
    fmt = Format.json if as_json else fmt
    record = {"path": v.path, "ok": v.ok, "files": v.files, "rows": v.rows, "problems": v.problems}
    if fmt is Format.json and output is None:
        typer.echo(json.dumps(record, indent=2))
    elif fmt is not Format.table or output is not None:  # one row; problems joined for csv and parquet
        emit(records_to_table([{**record, "problems": "; ".join(v.problems)}]), fmt=fmt, output=output)
    else:
        out = console()
        if v.ok:
            out.print(f"{path}: intact ({v.files} files, {v.rows:,} rows, hashes match the manifest)")
        else:
            for p in v.problems:
                out.print(f"[red]problem[/red] {p}")
            out.print(f"{path}: {len(v.problems)} problems")
    if not v.ok:
        raise typer.Exit(1)


def audit_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset directory.")],
    sample: Annotated[int, typer.Option("--sample", help="Symbols sampled for the proof.")] = 12,
    cuts: Annotated[int, typer.Option("--cuts", help="Cut instants t at which the future is perturbed.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the sample and perturbations.")] = 0,
    show_all: Annotated[bool, typer.Option("--all", help="List every check, not only failures.")] = False,
    warehouse: WarehouseArg = None,
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Prove causality on your data: perturb every bar after t, recompute, compare. Exit 0 when it holds."""
    from marketlake.datasets.audit import audit

    if sample < 1 or cuts < 1:
        raise ConfigError("--sample and --cuts must be at least 1")
    with current().reporter().task("dataset audit", unit="checks") as task:
        task.stage(f"perturbing the future of {sample} symbols at {cuts} cuts")
        rep = audit(path, warehouse=warehouse, symbols=sample, cuts=cuts, seed=seed)
    fmt = Format.json if as_json else fmt
    if fmt is Format.json and output is None:  # the whole report, as --json always printed it
        typer.echo(json.dumps(rep.to_dict(), indent=2))
    elif fmt is not Format.table or output is not None:  # files and programs get one row per check
        emit(records_to_table([asdict(c) for c in rep.checks]), fmt=fmt, output=output)
    else:
        out = console()
        t = Table(title=f"dataset audit: {len(rep.symbols)} symbols, cuts {', '.join(rep.cuts)}")
        for col in ("check", "subject", "result", "detail"):
            t.add_column(col)
        for c in rep.checks:
            if show_all or not c.passed or c.check == "label_horizon":
                t.add_row(c.check, c.subject, "[green]pass[/green]" if c.passed else "[red]FAIL[/red]", c.detail)
        print_grid(t, out)
        feats = [c for c in rep.checks if c.check == "feature_causal"]
        out.print(f"{sum(c.passed for c in feats)}/{len(feats)} features unchanged by the future; "
                  f"{sum(c.passed for c in rep.checks if c.check == 'label_horizon')}/"
                  f"{sum(c.check == 'label_horizon' for c in rep.checks)} labels read exactly their horizon")
    if not rep.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    dataset_app.command("build")(build_cmd)
    dataset_app.command("verify")(verify_cmd)
    dataset_app.command("audit")(audit_cmd)
    app.add_typer(dataset_app, name="dataset")


__all__ = ["dataset_app", "register"]
