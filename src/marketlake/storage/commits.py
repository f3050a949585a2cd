"""What every marketlake commit carries: table properties, commit info and post-commit hooks.

- Checkpoints every `CHECKPOINT_INTERVAL` commits, and log files older than `LOG_RETENTION` (and older
  than the latest checkpoint) are deleted after a commit: opening a table reads one checkpoint plus at
  most a few dozen JSON commits instead of replaying the whole log.
- Statistics of every column (`dataSkippingNumIndexedCols=-1`) for files delta-rs writes (OPTIMIZE,
  support tables). Our own writer (`parquet_commit.file_stats`) writes those of the keys, strings, dates
  and regimes, wherever they sit (sector and the regimes come after the 32nd column), and none of the
  float fields: they skip no file in this layout and made every commit to a big table 3x slower.
- The table's Delta `description` holds its layout version (`marketlake layout 2`, see
  `storage.migrate`); it changes in the same commit as the layout itself, so a table is never half
  old, half new. Not a table property: delta-rs refuses unknown property keys when creating a table.
- Commit info names what marketlake did (`marketlake.operation`, e.g. `upsert`) and its size (rows
  inserted/updated, files added/removed): delta-rs reserves `operation` (it logs `WRITE`), so ours sits
  beside it under the `marketlake.` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping

from deltalake import CommitProperties, PostCommitHookProperties

LAYOUT_VERSION = 2
"""1: `_partition` folders, default log settings (up to release 96800c0). 2: `partition_period`,
checkpoints, log clean-up and statistics of every column."""
LAYOUT_PREFIX = "marketlake layout "
CHECKPOINT_INTERVAL = 20
LOG_RETENTION = "interval 7 days"  # the janitor's default vacuum retention: time travel stays possible

TABLE_PROPERTIES: Mapping[str, str] = {
    "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
    "delta.logRetentionDuration": LOG_RETENTION,
    "delta.dataSkippingNumIndexedCols": "-1",
}


def layout_description(version: int = LAYOUT_VERSION) -> str:
    """The Delta table description that marks a table's layout version."""
    return f"{LAYOUT_PREFIX}{version}"


def layout_of(description: str | None) -> int:
    """The layout version a table description names; 1 (the unmarked first layout) otherwise."""
    text = (description or "").strip()
    if text.startswith(LAYOUT_PREFIX) and text[len(LAYOUT_PREFIX):].isdigit():
        return int(text[len(LAYOUT_PREFIX):])
    return 1


def commit_properties(operation: str, **metrics: int | str) -> CommitProperties:
    """Commit info for one marketlake operation: `marketlake.operation` plus its metrics."""
    meta: dict[str, str | int] = {"marketlake.operation": operation}
    meta.update({f"marketlake.{k}": v for k, v in metrics.items()})
    return CommitProperties(custom_metadata=meta)


def hooks() -> PostCommitHookProperties:
    """A checkpoint when the version is a multiple of the interval, then expired log files removed."""
    return PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=True)


__all__ = ["CHECKPOINT_INTERVAL", "LAYOUT_PREFIX", "LAYOUT_VERSION", "LOG_RETENTION", "TABLE_PROPERTIES",
           "commit_properties", "hooks", "layout_description", "layout_of"]
