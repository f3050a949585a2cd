"""What a load did, for the CLI, logs and tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoadReport:
    """Counts of one load into one table.

    `inserted + updated + unchanged` is the number of computed rows compared with storage;
    `quarantined` rows were rejected by validation (reasons by rule in `rejected_by_rule`).
    """

    table: str
    source: str
    rows_in: int = 0
    rows_valid: int = 0
    quarantined: int = 0
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    symbols_loaded: int = 0
    symbols_computed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    version: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    peers_deferred: bool = False  # load_bars(peers=False) left peers' cross-sectional fields stale

    @property
    def changed(self) -> int:
        return self.inserted + self.updated

    def merge(self, other: LoadReport) -> None:
        """Accumulate another report of the same table (multi-batch loads)."""
        for name in ("rows_in", "rows_valid", "quarantined", "symbols_loaded", "symbols_computed",
                     "inserted", "updated", "unchanged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for rule, n in other.rejected_by_rule.items():
            self.rejected_by_rule[rule] = self.rejected_by_rule.get(rule, 0) + n
        self.version = other.version if other.version is not None else self.version
        self.seconds += other.seconds


__all__ = ["LoadReport"]
