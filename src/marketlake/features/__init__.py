"""The feature engine: bars in, the 97 catalogue columns out (`compute`, `compute_table`).

TA-Lib runs through `_talib` (function and parameters from the catalogue); NumPy formulas are grouped by
family (`price`, `overlap`, `volatility`, `volume`, `volume_profile`, `dynamics`, `cross_section`, `regimes`);
`registry` maps each catalogue field to one of them. Pure: no I/O.
The pipeline and live serving call the same `compute`, so there is no training/serving skew.
Incremental updates continue the recursions from a per-symbol `state` (`state.history_bars`); a rebuild
compares rows with `equivalence.equivalent`.
"""

from marketlake._allocator import retain_memory
from marketlake.features.engine import FeatureInputError, compute, compute_table

__all__ = ["FeatureInputError", "compute", "compute_table", "retain_memory"]
