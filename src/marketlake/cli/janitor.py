"""`marketlake janitor audit|plan|apply` and `marketlake retention`: keep the warehouse clean.

Both are dry runs unless told otherwise (`apply --yes`, `retention --apply`), per the house style.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console
from marketlake.cli.ingest import MemoryBudgetOption, resolve_budget
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit_records, print_grid
from marketlake.errors import ConfigError
from marketlake.janitor import apply, apply_retention, audit, decide, plan, retention_plan
from marketlake.janitor.plan import DEFAULT_VACUUM_HOURS
from marketlake.schema import get_table
from marketlake.storage import DeltaStore

janitor_app = typer.Typer(help="Inventory and clean up the warehouse (legacy, temp, old versions).",
                          no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IncludeOption = Annotated[list[str] | None, typer.Option(
    "--include", help="Also remove this unknown object (repeatable); production/support are refused.")]
VacuumOption = Annotated[int, typer.Option(help="Keep Delta versions (and orphan files) younger than this.")]


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=title)
    for c in columns:
        out.add_column(c, justify="right" if c in ("rows", "bytes", "files", "partitions", "versions") else "left")
    for r in rows:
        out.add_row(*["-" if v is None else str(v) for v in r])
    return out


def audit_cmd(warehouse: WarehouseOption = DEFAULT_WAREHOUSE, as_json: JsonOption = False,
              fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """Everything in the warehouse: class (production/support/legacy/temp/unknown), rows, size, versions."""
    store = DeltaStore(warehouse)
    entries = audit(store)
    actions = {p.name: p.action for p in decide(entries)}
    rows = [[e.name, e.object_class, e.kind, e.rows, _size(e.bytes), e.files, e.partitions, e.versions,
             e.last_write.strftime("%Y-%m-%d %H:%M") if e.last_write else None, actions[e.name]] for e in entries]
    emit_records([{**e.to_dict(), "action": actions[e.name]} for e in entries], fmt=fmt, output=output,
                 as_json=as_json, human=lambda: print_grid(_table(
                     "warehouse audit", ["name", "class", "kind", "rows", "bytes", "files", "partitions", "versions",
                                         "last write", "action"], rows)))


def _render_plan(entries: list[Any], title: str) -> None:
    rows = [[p.name, p.object_class, p.kind, p.action, _size(p.bytes), p.reason] for p in entries]
    con = console()
    print_grid(_table(title, ["name", "class", "kind", "action", "bytes", "reason"], rows), con)
    con.print(f"{len(entries)} actions, {_size(sum(p.bytes for p in entries))} reclaimed")


def plan_cmd(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    as_json: JsonOption = False,
    include: IncludeOption = None,
    vacuum_hours: VacuumOption = DEFAULT_VACUUM_HOURS,
    show_keep: Annotated[bool, typer.Option("--all", help="Also list the objects that are kept.")] = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """What `apply` would remove, vacuum or compact and the bytes reclaimed. Changes nothing."""
    entries = plan(DeltaStore(warehouse), include=include or (), vacuum_hours=vacuum_hours, show_keep=show_keep)
    emit_records([p.to_dict() for p in entries], fmt=fmt, output=output, as_json=as_json,
                 human=lambda: _render_plan(entries, "janitor plan (dry run)"))


def apply_cmd(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really do it (otherwise: show the plan and exit 1).")] = False,
    include: IncludeOption = None,
    vacuum_hours: VacuumOption = DEFAULT_VACUUM_HOURS,
    compact: Annotated[bool, typer.Option("--compact/--no-compact", help="Compact and re-cluster.")] = True,
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
    memory_budget: MemoryBudgetOption = None,
) -> None:
    """Remove legacy and temp objects, vacuum old versions, compact small files; logged to janitor_log."""

    store = DeltaStore(warehouse)
    if not yes:
        entries = plan(store, include=include or (), vacuum_hours=vacuum_hours, compact=compact)
        _render_plan(entries, "janitor apply: dry run")
        typer.echo("nothing changed; re-run with --yes to apply")
        raise typer.Exit(1)
    with current().reporter().task("janitor apply", unit="actions") as task:
        done = apply(store, include=include or (), vacuum_hours=vacuum_hours, compact=compact, progress=task.stage,
                     memory_budget=resolve_budget(memory_budget))
    emit_records([p.to_dict() for p in done], fmt=fmt, output=output, as_json=as_json,
                 human=lambda: _render_plan(done, "janitor apply: done (see janitor_log)"))


def _overrides(values: list[str] | None) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for v in values or []:
        name, _, days = v.partition("=")
        if not days:
            raise ConfigError(f"--days expects TABLE=N (N days, or 'all' to keep everything), got {v!r}")
        out[name.strip()] = None if days.strip() == "all" else int(days)
    return out


def retention_cmd(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    do_apply: Annotated[bool, typer.Option("--yes", "-y", "--apply", help="Drop the partitions (default: show the plan; "
                                           "--apply is the older spelling).")] = False,
    table: Annotated[list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")] = None,
    days: Annotated[list[str] | None, typer.Option(
        "--days", help="Override a window, e.g. stocks_1min_clean=90 (1-minute: 90..186).")] = None,
    now: Annotated[str | None, typer.Option(help="Reference time (ISO, UTC); default now.")] = None,
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Enforce each table's retention window (tables.md) by dropping whole expired partitions."""
    store = DeltaStore(warehouse)
    moment = datetime.fromisoformat(now) if now else None
    for name in table or ():
        get_table(name)  # an unknown table is an error, not an empty plan
    if do_apply:
        with current().reporter().task("retention", unit="tables") as task:
            entries = apply_retention(store, now=moment, overrides=_overrides(days), tables=table, progress=task.stage)
    else:
        entries = retention_plan(store, now=moment, overrides=_overrides(days), tables=table)

    def human() -> None:
        rows = [[e.table, e.partition, e.rows, _size(e.bytes), e.cutoff.strftime("%Y-%m-%d")] for e in entries]
        con = console()
        print_grid(_table("retention" + ("" if do_apply else " (dry run)"),
                          ["table", "partition", "rows", "bytes", "cutoff"], rows), con)
        verb = "dropped" if do_apply else "would drop"
        con.print(f"{verb} {len(entries)} partitions, {sum(e.rows for e in entries):,} rows, "
                  f"{_size(sum(e.bytes for e in entries))}" + ("" if do_apply else "; re-run with --yes to apply"))

    emit_records([e.to_dict() for e in entries], fmt=fmt, output=output, as_json=as_json, human=human)


def register(app: typer.Typer) -> None:
    janitor_app.command("audit")(audit_cmd)
    janitor_app.command("plan")(plan_cmd)
    janitor_app.command("apply")(apply_cmd)
    app.add_typer(janitor_app, name="janitor")
    app.command("retention")(retention_cmd)


__all__ = ["janitor_app", "register"]
