"""`python -m marketlake` runs the same CLI as the `marketlake` script (for venvs without the script on PATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_python_dash_m_marketlake_runs_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])}
    ok = subprocess.run([sys.executable, "-m", "marketlake", "actions", "--help"], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "load" in ok.stdout, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "marketlake", "sql", "SELECT 1", "-w", str(tmp_path / "none")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: no warehouse at") and "Traceback" not in bad.stderr
