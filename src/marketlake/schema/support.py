"""Schemas of the support tables (symbol master, quarantine, ingestion state, logs)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pyarrow as pa

from marketlake.schema.fields import METADATA_COLUMNS
from marketlake.schema.tables import TABLE_NAMES

_TS = pa.timestamp("us", tz="UTC")


# Per (table, symbol): the feature engine's recursions at the symbol's last bar (marketlake.features.state),
# so appending a bar continues them instead of recomputing the whole history.
FEATURE_STATE_COLUMNS: tuple[str, ...] = (
    "ema_12", "ema_26", "ema_50", "ema_200",  # TA_EMA prevMA
    "sma_10_total", "sma_20_total", "sma_50_total", "sma_200_total", "volume_sma_20_total",  # TA_SMA totals
    "macd_fast", "macd_slow", "macd_signal",  # TA_MACD's three EMAs
    "rsi_gain", "rsi_loss",  # TA_RSI Wilder averages
    "atr",  # TA_ATR / TA_NATR prevATR
    "dm_plus", "dm_minus", "tr_smooth", "adx",  # TA_ADX / PLUS_DI / MINUS_DI Wilder sums, prevADX
    "kama", "kama_roc_sum",  # TA_KAMA prevKAMA, sumROC1
    "obv", "ad",  # TA_OBV, TA_AD running values
    "stoch_k_total", "stoch_d_total", "stoch_k_1", "stoch_k_2",  # TA_STOCH's SMA totals, last two slow %K
    "close_moved", "range_seen",  # 1.0 once the close moved / a true range > 0 occurred (NULL masks)
    "vwap_pv", "vwap_pv_comp", "vwap_v", "vwap_v_comp",  # intraday session sums (Kahan, as pandas adds)
)


def _feature_state() -> pa.Schema:
    fields = [
        pa.field("table", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("datetime", _TS, nullable=False),  # the symbol's last bar the state is valid at
        pa.field("n_bars", pa.int64(), nullable=False),  # bars of the symbol up to and including it
        pa.field("engine", pa.string(), nullable=False),  # features.state.fingerprint(): another engine's is refused
    ]
    return pa.schema(fields + [pa.field(c, pa.float64()) for c in FEATURE_STATE_COLUMNS])


def _symbols() -> pa.Schema:
    fields = [pa.field("symbol", pa.string(), nullable=False)]
    fields += [pa.field(c, pa.string()) for c in METADATA_COLUMNS]
    fields += [
        pa.field("active", pa.bool_()),
        pa.field("inactive_reason", pa.string()),
        pa.field("metadata_source", pa.string()),
    ]
    for t in TABLE_NAMES:
        fields += [pa.field(f"first_bar_{t}", _TS), pa.field(f"last_bar_{t}", _TS)]
    fields.append(pa.field("updated_at", _TS))
    return pa.schema(fields)


SUPPORT_SCHEMAS: Mapping[str, pa.Schema] = MappingProxyType(
    {
        "symbols": _symbols(),
        "quarantine": pa.schema(
            [
                pa.field("row_id", pa.string(), nullable=False),  # hash of (table, source, raw, rule): idempotent
                pa.field("table", pa.string()),
                pa.field("source", pa.string()),
                pa.field("symbol", pa.string()),
                pa.field("datetime", _TS),
                pa.field("rule", pa.string()),
                pa.field("reason", pa.string()),
                pa.field("raw", pa.string()),  # the input row as JSON
                pa.field("location", pa.string()),  # file:line or vendor request
                pa.field("run_id", pa.string()),
                pa.field("quarantined_at", _TS),
            ]
        ),
        "ingest_state": pa.schema(
            [
                pa.field("table", pa.string(), nullable=False),
                pa.field("symbol", pa.string(), nullable=False),
                pa.field("source", pa.string()),
                pa.field("first_bar", _TS),
                pa.field("last_bar", _TS),
                pa.field("earliest_available", _TS),
                pa.field("backfill_complete", pa.bool_()),
                pa.field("status", pa.string()),
                pa.field("message", pa.string()),
                pa.field("updated_at", _TS),
            ]
        ),
        "api_usage": pa.schema(
            [
                pa.field("vendor", pa.string(), nullable=False),
                pa.field("day", pa.date32(), nullable=False),
                pa.field("minute", _TS, nullable=False),
                pa.field("credits", pa.int64()),
                pa.field("requests", pa.int64()),
                pa.field("updated_at", _TS),
            ]
        ),
        "quality_runs": pa.schema(
            [
                pa.field("run_id", pa.string(), nullable=False),
                pa.field("started_at", _TS),
                pa.field("finished_at", _TS),
                pa.field("tables", pa.string()),
                pa.field("errors", pa.int64()),
                pa.field("warnings", pa.int64()),
                pa.field("infos", pa.int64()),
                pa.field("fixed", pa.int64()),
            ]
        ),
        "quality_issues": pa.schema(
            [
                pa.field("run_id", pa.string(), nullable=False),
                pa.field("check", pa.string()),
                pa.field("severity", pa.string()),
                pa.field("table", pa.string()),
                pa.field("symbol", pa.string()),
                pa.field("field", pa.string()),
                pa.field("detail", pa.string()),
                pa.field("count", pa.int64()),
                pa.field("first_datetime", _TS),
                pa.field("last_datetime", _TS),
                pa.field("fixed", pa.bool_()),
            ]
        ),
        # splits, dividends, renames, delistings (docs/corporate-actions.md); one row per action_id
        "corporate_actions": pa.schema(
            [
                pa.field("action_id", pa.string(), nullable=False),  # hash of (symbol, kind, date)
                pa.field("symbol", pa.string()),
                pa.field("kind", pa.string()),  # split | dividend | rename | delisting
                pa.field("date", pa.date32()),  # effective date (split), ex-date (dividend)
                pa.field("from_factor", pa.float64()),  # split: from_factor old shares become to_factor
                pa.field("to_factor", pa.float64()),
                pa.field("amount", pa.float64()),  # dividend per share, as paid on the ex-date
                pa.field("currency", pa.string()),
                pa.field("new_symbol", pa.string()),  # rename target
                pa.field("source", pa.string()),  # csv, twelvedata, quality
                pa.field("status", pa.string()),  # confirmed | suspected (quality detection)
                pa.field("applied_tables", pa.string()),  # JSON: table -> pending probe or done
                pa.field("applied_at", _TS),  # every table done; NULL: to apply
                pa.field("recorded_at", _TS),
                pa.field("detail", pa.string()),
            ]
        ),
        "signals": pa.schema(  # scores served by `marketlake predict` (model + version: what was trained on)
            [
                pa.field("symbol", pa.string(), nullable=False),
                pa.field("datetime", _TS, nullable=False),
                pa.field("model", pa.string(), nullable=False),
                pa.field("model_version", pa.string(), nullable=False),
                pa.field("score", pa.float64()),
                pa.field("rank", pa.float64()),  # percentile rank of the score among that datetime's symbols
                pa.field("table", pa.string()),
                pa.field("source_version", pa.int64()),  # Delta version of `table` the features came from
                pa.field("created_at", _TS),
            ]
        ),
        "dataset_manifests": pa.schema(  # datasets built from this warehouse: the versions they pin
            [
                pa.field("path", pa.string(), nullable=False),
                pa.field("table", pa.string(), nullable=False),
                pa.field("version", pa.int64(), nullable=False),
                pa.field("content_hash", pa.string()),
                pa.field("built_at", _TS),
            ]
        ),
        "feature_state": _feature_state(),
        "sync_runs": pa.schema(  # one row per `marketlake sync` action (append-only; see pipeline.sync.runs)
            [
                pa.field("run_id", pa.string(), nullable=False),
                pa.field("mode", pa.string()),  # once | watch
                pa.field("table", pa.string()),  # "*" for a pass with nothing to do
                pa.field("source", pa.string()),
                pa.field("action", pa.string()),  # update | backfill | none
                pa.field("started_at", _TS),
                pa.field("finished_at", _TS),
                pa.field("symbols", pa.int64()),
                pa.field("rows", pa.int64()),
                pa.field("credits", pa.int64()),
                pa.field("requests", pa.int64()),
                pa.field("status", pa.string()),  # ok | failed | deferred | stopped
                pa.field("message", pa.string()),
            ]
        ),
        "coverage_members": pa.schema(  # membership chosen by a universe rule (coverage.rules), per covered table
            [
                pa.field("table", pa.string(), nullable=False),
                pa.field("symbol", pa.string(), nullable=False),
                pa.field("member", pa.bool_()),
                pa.field("rank", pa.int64()),
                pa.field("metric", pa.float64()),
                pa.field("rule", pa.string()),  # the rule as JSON: another rule re-ranks at once
                pa.field("ranked_at", _TS),
            ]
        ),
        "janitor_log": pa.schema(
            [
                pa.field("logged_at", _TS, nullable=False),
                pa.field("name", pa.string()),
                pa.field("class", pa.string()),
                pa.field("action", pa.string()),
                pa.field("bytes", pa.int64()),
                pa.field("detail", pa.string()),
            ]
        ),
    }
)

__all__ = ["FEATURE_STATE_COLUMNS", "SUPPORT_SCHEMAS"]
