"""Capacity plot: largest symbol counts per table, batched vs naive, against the coverage targets.

A log scale because the two models differ by orders of magnitude, which is the point of the plot.
PNG for files ending in `.png`; for `.html` the PNG is embedded so the page is self-contained.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from marketlake.capacity.planner import TableCapacity


def render_plot(rows: list[TableCapacity], path: str | Path, *, title: str) -> Path:
    """Write the plot to `path` (.png or .html) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    names = [r.table.replace("_clean", "") for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(10, 5))
    w = 0.38
    ax.bar([i - w / 2 for i in x], [max(r.max_symbols, 1) for r in rows], w, label="max symbols (batched, 5,000 bars/request)")
    ax.bar([i + w / 2 for i in x], [max(r.naive_max_symbols, 1) for r in rows], w,
           label="max symbols (naive: 1 request per symbol per bar)")
    ax.scatter(list(x), [max(r.symbols, 1) for r in rows], color="black", marker="_", s=600, zorder=3,
               label="coverage target")
    ax.set_yscale("log")
    ax.set_xticks(list(x), names, rotation=20)
    ax.set_ylabel("symbols")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    if out.suffix.lower() in (".html", ".htm"):
        data = base64.b64encode(buf.getvalue()).decode()
        out.write_text(f"<!doctype html><html><head><title>{title}</title></head><body>"
                       f"<h1>{title}</h1><img alt='capacity' src='data:image/png;base64,{data}'/></body></html>")
    else:
        out.write_bytes(buf.getvalue())
    return out


__all__ = ["render_plot"]
