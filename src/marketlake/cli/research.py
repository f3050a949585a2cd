"""`marketlake research baseline DIR`: a gradient-boosted baseline per fold, evaluated out of sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from marketlake.cli.common import console
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, records_to_table

research_app = typer.Typer(help="Models on datasets: an honest out-of-sample baseline.", no_args_is_help=True)


def baseline_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset directory (from `marketlake dataset build`).")],
    label: Annotated[str | None, typer.Option("--label", help="Label to learn (default: the first).")] = None,
    cost_bps: Annotated[float, typer.Option("--cost-bps", help="Cost per unit of turnover, in basis points.")] = 10.0,
    rounds: Annotated[int, typer.Option("--rounds", help="Boosting rounds per fold.")] = 200,
    threads: Annotated[int, typer.Option("--threads", help="Training threads.")] = 2,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write baseline.json and baseline.html "
                                                                 "(default: the dataset directory).")] = None,
    save_model: Annotated[Path | None, typer.Option(
        "--save-model", help="Also train on every labelled row and save the model here (for `predict`).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary (= --format json).")] = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Train LightGBM (or scikit-learn's HistGradientBoosting) per fold; IC, rank IC, ICIR, hit rate,
    decile long-short after costs, turnover, drawdown; JSON + an offline HTML page."""
    from marketlake.errors import ConfigError
    from marketlake.research import baseline, report

    if rounds < 1 or threads < 1:
        raise ConfigError("--rounds and --threads must be at least 1")
    from marketlake.cli.options import current

    reporter = current().reporter()
    fmt = Format.json if as_json else fmt
    if fmt is Format.json and output is None:
        reporter.quiet = True  # stdout is one JSON object; stderr stays free of progress too (like quality --json)
    with reporter.task("research baseline", unit="folds") as task:
        result = baseline.run(path, label=label, cost_bps=cost_bps, rounds=rounds, seed=seed, save_model=save_model,
                              threads=threads, progress=task.stage)
    target = out or path
    target.mkdir(parents=True, exist_ok=True)
    j = report.write_json(result, target / "baseline.json")
    h = report.write_html(result, target / "baseline.html")
    s = report._clean(result.summary)
    if fmt is Format.json and output is None:
        typer.echo(json.dumps(s, indent=2, sort_keys=True))
        return
    if fmt is not Format.table or output is not None:  # files and programs: one row per fold
        emit(records_to_table(s["folds"]), fmt=fmt, output=output)
        return
    con = console()

    def f(v: object) -> str:
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    con.print(f"{s['engine']} on {s['label']}, {s['oos_rows']:,} out-of-sample rows over {len(s['folds'])} folds")
    con.print(f"IC {f(s['ic'])}  rank IC {f(s['rank_ic'])}  ICIR {f(s['icir'])}  rank ICIR {f(s['rank_icir'])}  "
              f"hit rate {f(s['hit_rate'])}")
    ls = s.get("long_short")
    if ls:
        con.print(f"decile long-short every {ls['step']} bars: mean net {f(ls['mean_net'])} per period "
                  f"(gross {f(ls['mean_gross'])}, cost {ls['cost_bps']:g} bps x turnover {f(ls['mean_turnover'])}), "
                  f"cumulative {f(ls['cumulative_net'])}, max drawdown {f(ls['max_drawdown'])}")
    for r in s["folds"]:
        con.print(f"  {r['fold']}: train {r['train_rows']:,} test {r['test_rows']:,} "
                  + (f"IC {f(r.get('ic'))} rank IC {f(r.get('rank_ic'))}" if "ic" in r else str(r.get("skipped"))))
    if s.get("saved_model"):
        con.print(f"model saved to {s['saved_model']['path']} (version {s['saved_model']['version']})")
    con.print(f"wrote {j} and {h}")


def register(app: typer.Typer) -> None:
    research_app.command("baseline")(baseline_cmd)
    app.add_typer(research_app, name="research")


__all__ = ["register", "research_app"]
