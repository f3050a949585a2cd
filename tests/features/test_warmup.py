"""`python -m marketlake.features.warmup` (run by `make install`) leaves the kernel cache warm and says so."""

from __future__ import annotations

import subprocess
import sys


def test_warmup_reports_and_leaves_the_marker() -> None:
    code = "from marketlake.features.warmup import kernels_ready; print(kernels_ready())"
    done = subprocess.run([sys.executable, "-m", "marketlake.features.warmup"], capture_output=True, text=True,
                          timeout=300, check=True)
    assert "feature kernels ready" in done.stdout
    after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert after.stdout.strip() == "True"
