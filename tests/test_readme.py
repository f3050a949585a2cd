"""The README's live-features example runs as printed against the demo warehouse."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from marketlake.pipeline.demo import DEFAULT_TIERS, DemoTier, build_demo

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_live_features_example_runs_on_the_demo_warehouse(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "from marketlake.features import compute" in b)
    assert 'Warehouse("warehouse")' in example  # the path `make demo` builds into
    # the demo's daily tier exactly as `make demo` builds it (the same symbols, days and seed: the same
    # stocks_daily_clean the example reads); the hourly and 1-minute tables, 3/4 of the build, it never reads
    build_demo(tmp_path / "warehouse", tiers={**{k: DemoTier(0, 0, 0) for k in DEFAULT_TIERS},
                                              "daily": DEFAULT_TIERS["daily"]})
    script = tmp_path / "example.py"
    script.write_text(example)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["symbol", "datetime", "close", "rsi_14", "macd", "beta_60"]
    rows = [line.split() for line in lines[1:]]
    assert [r[1] for r in rows] == ["AAPL", "MSFT", "SPY"]
    assert all(0 < float(r[5]) < 100 for r in rows)  # RSI of the new bar, computed from the stored history
    assert float(rows[2][7]) == pytest.approx(1.0)  # SPY's beta to itself
