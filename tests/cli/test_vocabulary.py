"""One vocabulary of options: every command that takes symbols, tables, a warehouse, a format or an
apply switch spells it the same way, and a short flag means the same thing in every command.

The test walks the Typer app, so a command added later is held to the same rules without anyone
remembering to list it; the few deliberate exceptions are named here with their reason.
"""

from __future__ import annotations

from typing import Any

from typer.main import get_command

from marketlake.cli.main import app
from marketlake.cli.output import Format

# parameter name -> the flags it must have (more are allowed: aliases such as --apply, --symbol)
REQUIRED = {
    "warehouse": {"--warehouse", "-w"},
    "symbols": {"--symbols", "-s"},
    "symbols_option": {"--symbols", "-s"},
    "table": {"--table", "-t"},
    "fmt": {"--format", "-f"},
    "output": {"--output", "-o"},
    "yes": {"--yes", "-y"},
    "do_apply": {"--yes", "-y"},
    "as_json": {"--json"},
    "dry_run": {"--dry-run"},
    "config": {"--config"},
    "config_file": {"--config"},
    "quiet": {"--quiet", "-q"},
    "verbose": {"--verbose", "-v"},
}
# flag -> the parameter names allowed to own it (one meaning per flag across commands)
OWNERS = {
    "-w": {"warehouse"}, "--warehouse": {"warehouse"},
    "-s": {"symbols", "symbols_option"}, "--symbols": {"symbols", "symbols_option"},
    "-t": {"table"}, "--table": {"table"},
    "-f": {"fmt", "format"}, "--format": {"fmt", "format"},
    "-o": {"output", "out"},  # --output FILE for rows; --out DIR where a command writes a directory
    "--output": {"output"},
    "-y": {"yes", "do_apply"}, "--yes": {"yes", "do_apply"},
    "--json": {"as_json"},
    "--config": {"config", "config_file"},
    "-q": {"quiet"}, "-v": {"verbose"},
}
# commands whose --table names one target (the table a file or vendor run writes, or a model reads);
# every other --table is a filter and must be repeatable
SINGLE_TABLE = {("ingest", "csv"), ("ingest", "parquet"), ("ingest", "twelvedata"), ("ingest", "binance"),
                ("dataset", "build"), ("predict",)}
# commands that produce rows: --format/--output must be there
ROW_COMMANDS = {("sql",), ("tables",), ("schema",), ("capacity",), ("symbols", "list"), ("actions", "list"),
                ("janitor", "audit"), ("janitor", "plan"), ("janitor", "apply"), ("retention",), ("quality",),
                ("migrate",), ("config", "show"), ("dataset", "audit"), ("dataset", "verify"),
                ("research", "baseline"), ("predict",)}
# commands that take symbols: -s/--symbols must be there
SYMBOL_COMMANDS = {("quality",), ("ingest", "synthetic"), ("ingest", "twelvedata"), ("ingest", "binance"),
                   ("symbols", "list"), ("actions", "list"), ("actions", "fetch"), ("dataset", "build"), ("predict",)}
# a parameter that takes one symbol for rows that lack a symbol column (not a filter: no -s)
NOT_A_SYMBOL_LIST = {(("ingest", "csv"), "symbol"), (("ingest", "parquet"), "symbol")}


def _leaves(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += _leaves(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


def _options(cmd: Any) -> list[Any]:
    """The command's options (Typer vendors Click: its classes are not `click.Option`)."""
    return [p for p in cmd.params if p.param_type_name == "option"]


def _flags(p: Any) -> set[str]:
    return set(p.opts) | set(p.secondary_opts)


COMMANDS = _leaves(get_command(app))


def test_the_walk_sees_every_command() -> None:
    names = {path for path, _ in COMMANDS}
    assert len(names) >= 25 and ROW_COMMANDS | SINGLE_TABLE | SYMBOL_COMMANDS <= names, \
        sorted((ROW_COMMANDS | SINGLE_TABLE | SYMBOL_COMMANDS) - names)


def test_each_kind_of_parameter_has_the_same_flags_everywhere() -> None:
    problems = []
    for path, cmd in COMMANDS:
        for p in _options(cmd):
            want = REQUIRED.get(p.name or "")
            if want and not want <= _flags(p):
                problems.append(f"marketlake {' '.join(path)}: {p.name} has {sorted(_flags(p))}, needs {sorted(want)}")
            if p.name == "table" and path not in SINGLE_TABLE and not p.multiple:
                problems.append(f"marketlake {' '.join(path)}: --table must be repeatable (-t A -t B)")
            if p.name in ("symbol",) and (path, p.name) not in NOT_A_SYMBOL_LIST:
                problems.append(f"marketlake {' '.join(path)}: a single --symbol; use -s/--symbols A,B")
    assert not problems, "\n".join(problems)


def test_commands_that_take_symbols_take_dash_s() -> None:
    problems = [f"marketlake {' '.join(path)} lacks -s/--symbols" for path, cmd in COMMANDS
                if path in SYMBOL_COMMANDS and not any({"-s", "--symbols"} <= _flags(p) for p in _options(cmd))]
    assert not problems, "\n".join(problems)


def test_a_flag_means_one_thing() -> None:
    problems = []
    for path, cmd in COMMANDS:
        for p in _options(cmd):
            for flag in _flags(p):
                owners = OWNERS.get(flag)
                if owners is not None and p.name not in owners:
                    problems.append(f"marketlake {' '.join(path)}: {flag} is {p.name!r} here, elsewhere {sorted(owners)}")
    assert not problems, "\n".join(problems)


def test_row_commands_take_format_and_output_and_json_is_an_alias() -> None:
    problems = []
    for path, cmd in COMMANDS:
        flags = set().union(*(_flags(p) for p in _options(cmd)))
        if (path in ROW_COMMANDS or "--json" in flags) and not {"--format", "--output"} <= flags:
            problems.append(f"marketlake {' '.join(path)} lacks --format/--output")
        fmt = next((p for p in _options(cmd) if "--format" in _flags(p)), None)
        kind = fmt.type_descriptor.annotation if fmt is not None else None
        if kind is str and path != ("schema",):  # schema adds `markdown`, so it parses the word itself
            problems.append(f"marketlake {' '.join(path)} --format is free text, not cli.output.Format")
        elif kind is not None and kind is not str and not {f.value for f in Format} <= {m.value for m in kind}:
            problems.append(f"marketlake {' '.join(path)} --format lacks some of table, csv, json, parquet")
    assert not problems, "\n".join(problems)


def test_applying_commands_preview_unless_yes() -> None:
    """Every --yes is off by default (a plan first), and every command that applies has --yes."""
    applying = {("janitor", "apply"), ("retention",), ("quality",), ("migrate",), ("restore",)}
    with_yes = {path for path, cmd in COMMANDS if any("--yes" in _flags(p) for p in _options(cmd))}
    assert applying <= with_yes, sorted(applying - with_yes)
    for path, cmd in COMMANDS:
        for p in _options(cmd):
            if "--yes" in _flags(p):
                assert p.default is False, path
