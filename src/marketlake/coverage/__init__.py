"""The coverage plan: which production tables are kept current, from which source, for which symbols.

`[coverage.<table>]` sections of `marketlake.toml` (models in `coverage.model`, kept import-light so
`marketlake.config` can use them), universes resolved by `coverage.universe` (lists, names, files and
rules over the warehouse, `coverage.rules`), presets for `marketlake init` (`coverage.presets`) and the
capacity check of a whole plan (`coverage.capacity`).
"""
