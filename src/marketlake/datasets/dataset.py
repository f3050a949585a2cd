"""A built dataset: its manifest, its columns, conversions, and a batch loader.

The rows live in Parquet files under DIR/data (whole rows: symbol, datetime, features, labels, folds);
`Dataset.open(DIR)` reads nothing until asked. `batches()` streams one file at a time, one record batch
at a time, so training never needs the whole set in memory; `to_arrow()` and friends load it all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketlake.datasets import manifest as _manifest
from marketlake.errors import ConfigError
from marketlake.frames import to_frame

Output = Literal["pandas", "polars", "arrow"]


class Dataset:
    """Features, labels and fold assignments of one dataset, with the manifest that reproduces it."""

    def __init__(self, manifest: dict[str, Any], *, path: Path | None = None, table: pa.Table | None = None) -> None:
        self.manifest = manifest
        self.path = path
        self._table = table

    @staticmethod
    def open(path: str | Path) -> Dataset:
        """A dataset directory written by `build` (reads the manifest only)."""
        p = Path(path)
        if p.name == _manifest.MANIFEST:
            p = p.parent
        return Dataset(_manifest.load(p), path=p)

    def __repr__(self) -> str:
        return (f"Dataset({self.path or 'in memory'}, rows={self.manifest['rows']:,}, "
                f"features={len(self.feature_columns)}, labels={self.label_columns}, folds={len(self.fold_columns)})")

    @property
    def feature_columns(self) -> list[str]:
        return list(self.manifest["columns"]["features"])

    @property
    def label_columns(self) -> list[str]:
        return list(self.manifest["columns"]["labels"])

    @property
    def fold_columns(self) -> list[str]:
        return list(self.manifest["columns"]["folds"])

    def files(self) -> list[Path]:
        if self.path is None:
            return []
        return [self.path / f["path"] for f in self.manifest["files"]]

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        """Every row (the selected columns; symbol and datetime always first)."""
        cols = None if columns is None else ["symbol", "datetime", *[c for c in columns if c not in ("symbol", "datetime")]]
        if self._table is not None:
            return self._table if cols is None else self._table.select(cols)
        if self.path is None:
            raise ConfigError("this dataset has neither files nor rows in memory")
        tables = [pq.read_table(f, columns=cols) for f in self.files()]
        return pa.concat_tables(tables) if tables else pa.table({})

    def to_pandas(self, columns: list[str] | None = None) -> Any:
        return self.to_arrow(columns).to_pandas()

    def to_polars(self, columns: list[str] | None = None) -> Any:
        return to_frame(self.to_arrow(columns), "polars")

    def features(self, as_: Output = "pandas") -> Any:
        """symbol, datetime and the feature columns."""
        return to_frame(self.to_arrow(self.feature_columns), as_)

    def labels(self, as_: Output = "pandas") -> Any:
        """symbol, datetime and the label columns."""
        return to_frame(self.to_arrow(self.label_columns), as_)

    def folds(self, as_: Output = "pandas") -> Any:
        """symbol, datetime and fold_1..fold_k ('train', 'test' or NULL)."""
        return to_frame(self.to_arrow(self.fold_columns), as_)

    def _record_batches(self, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        if self._table is not None:
            yield from self._table.select(columns).to_batches(max_chunksize=batch_size)
            return
        for f in self.files():
            pf = pq.ParquetFile(f)
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)

    def batches(
        self,
        *,
        fold: int | None = None,
        part: Literal["train", "test"] | None = None,
        label: str | None = None,
        features: list[str] | None = None,
        batch_size: int = 65_536,
        dtype: Any = np.float32,
        drop_missing_label: bool = True,
        torch: bool = False,
    ) -> Iterator[tuple[Any, Any]]:
        """(X, y) batches: X a (rows, features) array (NaN = NULL), y the label; one file and one record
        batch in memory at a time. `fold` + `part` select that fold's train or test rows. `torch=True`
        yields torch tensors (shares the NumPy buffers: no extra copy)."""
        feats = features or self.feature_columns
        y_name = label or self.label_columns[0]
        if y_name not in self.label_columns:
            raise ConfigError(f"no label {y_name!r}; the dataset has {self.label_columns}")
        fold_col = None
        if fold is not None:
            fold_col = f"fold_{fold}"
            if fold_col not in self.fold_columns:
                raise ConfigError(f"no {fold_col}; the dataset has {len(self.fold_columns)} folds")
            if part not in ("train", "test"):
                raise ConfigError("give part='train' or part='test' with fold=")
        cols = [*feats, y_name] + ([fold_col] if fold_col else [])
        for rb in self._record_batches(cols, batch_size):
            mask = None
            if fold_col is not None:
                mask = pc.fill_null(pc.equal(rb.column(fold_col), part), False)
            if drop_missing_label:
                ok = pc.is_valid(rb.column(y_name))
                mask = ok if mask is None else pc.and_(mask, ok)
            if mask is not None:
                rb = rb.filter(mask)
            if rb.num_rows == 0:
                continue
            x = np.empty((rb.num_rows, len(feats)), dtype=dtype)
            for j, name in enumerate(feats):
                x[:, j] = rb.column(name).to_numpy(zero_copy_only=False)
            y = np.asarray(pc.cast(rb.column(y_name), pa.float64()).to_numpy(zero_copy_only=False), dtype=dtype)
            if torch:
                import torch as _torch

                yield _torch.from_numpy(x), _torch.from_numpy(y)
            else:
                yield x, y


__all__ = ["Dataset"]
