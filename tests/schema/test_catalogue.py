"""The catalogue implements the contract (../shared/spec/fields.md) and drives docs and schemas."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.cli.schema_cmd import render_markdown
from marketlake.errors import ConfigError
from marketlake.schema import (
    FIELD_NAMES,
    FIELDS,
    PARTITION_COLUMN,
    TABLES,
    bar_schema,
    classify,
    get_table,
    storage_schema,
)
from tests.conftest import PROJECT_ROOT, SHARED_SPEC


def _spec_fields() -> list[tuple[int, str, str | None]]:
    """(position, name, type-or-None) rows parsed from the contract's Markdown tables."""
    text = (SHARED_SPEC / "fields.md").read_text()
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|\s*([a-z0-9_]+)\s*\|(.*)$", line)
        if m:
            rows.append((int(m.group(1)), m.group(2), m.group(3)))
    return rows


def test_catalogue_matches_the_contract_names_and_order() -> None:
    if not (SHARED_SPEC / "fields.md").exists():
        pytest.skip("../shared/spec/fields.md not present")
    rows = _spec_fields()
    assert [r[0] for r in rows] == list(range(1, 98))
    assert [r[1] for r in rows] == list(FIELD_NAMES)


def test_catalogue_names_the_talib_function_where_the_contract_does() -> None:
    if not (SHARED_SPEC / "fields.md").exists():
        pytest.skip("../shared/spec/fields.md not present")
    for pos, name, rest in _spec_fields():
        field = FIELDS[pos - 1]
        m = re.search(r"TA-Lib ([A-Z_]+)", rest or "")
        if m and name != "vwap":  # vwap equals TA-Lib VWAP per intraday session only; daily is a 20-bar window
            assert field.talib == m.group(1), name


def test_types_follow_the_conventions() -> None:
    schema = bar_schema()
    assert len(schema) == 97
    assert schema.field("datetime").type == pa.timestamp("us", tz="UTC")
    assert schema.field("trade_date").type == pa.date32()
    for name in ("trend_regime", "volatility_regime", "trend_strength_regime"):
        assert schema.field(name).type == pa.int8()
    for f in FIELDS:
        if f.group in ("identity",) or f.name == "source":
            assert schema.field(f.name).type == pa.string()
    floats = [f.name for f in FIELDS if schema.field(f.name).type == pa.float64()]
    assert len(floats) == 97 - 10 - 2 - 3 - 2  # identity, datetime/trade_date, regimes, source/updated_at
    assert storage_schema().names == [*FIELD_NAMES, PARTITION_COLUMN]


def test_six_tables_with_their_partitioning() -> None:
    assert sorted(TABLES) == sorted(
        f"{a}_{t}_clean" for a in ("stocks", "crypto") for t in ("daily", "hourly", "1min")
    )
    for spec in TABLES.values():
        assert spec.partitioning == ("month" if spec.timeframe == "daily" else "day")
    assert get_table("stocks_1min_clean").bars_per_year == 252 * 390
    assert get_table("crypto_hourly_clean").bars_per_year == 365 * 24
    with pytest.raises(ConfigError, match="stocks_daily_clean"):
        get_table("stocks_5min_clean")


def test_docs_fields_md_is_generated_from_the_catalogue() -> None:
    committed = (PROJECT_ROOT / "docs" / "fields.md").read_text()
    assert committed == render_markdown(), "run: marketlake schema --format markdown > docs/fields.md"


def test_schema_json_lists_97_objects() -> None:
    result = CliRunner().invoke(app, ["schema", "--format", "json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["name"] for i in items] == list(FIELD_NAMES)
    assert {"name", "group", "type"} <= set(items[0])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("stocks_daily_clean", "production"),
        ("crypto_1min_clean", "production"),
        ("symbols", "support"),
        ("quarantine", "support"),
        ("fundamentals_income", "support"),
        ("temp_GOOGL", "temp"),
        ("_temp_features_AAPL", "temp"),
        ("v2_stocks_daily", "legacy"),
        ("weekly_crypto_all", "legacy"),
        ("btc_ai_training_daily", "legacy"),
        ("stocks_unified_daily", "legacy"),
        ("stocks_daily_clean_v2", "legacy"),
        ("stocks_5min_clean", "legacy"),
        ("my_research_notes", "unknown"),
    ],
)
def test_naming_convention(name: str, expected: str) -> None:
    assert classify(name) == expected
