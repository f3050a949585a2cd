"""From warehouse to models: leak-free datasets read from a pinned Delta version.

`build(...)` -> `Dataset` (features, labels, fold columns, manifest; Parquet files + manifest.json with
`out=`); `rebuild(manifest, out=...)` reproduces the files byte for byte; `verify(DIR)` checks them;
`audit(DIR)` proves causality on the user's own data; `pinned_versions(store)` tells the janitor what a
dataset still needs.
"""

from marketlake.datasets.build import NUMERIC, Membership, build, rebuild
from marketlake.datasets.dataset import Dataset
from marketlake.datasets.manifest import Verification, verify
from marketlake.datasets.registry import pinned_versions, vacuum_warnings
from marketlake.datasets.spec import LabelSpec, SplitSpec, TransformSpec


def open_dataset(path: str) -> Dataset:
    """A dataset directory written by `build` (lazy: reads the manifest only)."""
    return Dataset.open(path)


__all__ = ["NUMERIC", "Dataset", "LabelSpec", "Membership", "SplitSpec", "TransformSpec", "Verification", "build",
           "open_dataset", "pinned_versions", "rebuild", "vacuum_warnings", "verify"]
