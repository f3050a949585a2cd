"""`marketlake init --preset NAME`: a commented `marketlake.toml` holding a whole coverage plan.

`hybrid` is the original design (tables.md, "Coverage targets"): daily 2,500 stocks + 150 crypto,
hourly 500 + 100 "volume leaders", 1-minute 100 + 50 "most active", stocks on TwelveData (the Grow
plan is the smallest that carries the 1-minute tier), crypto on Binance (public klines: request weight,
no credits). `free` is what the free TwelveData plan (8 credits a minute, 800 a day) keeps current.
`marketlake capacity --config marketlake.toml` checks either against a plan.
"""

from __future__ import annotations

from pathlib import Path

from marketlake.errors import ConfigError

_HEADER = """\
# marketlake.toml: written by `marketlake init --preset {name}`.
# Check it against a plan:  marketlake capacity --config marketlake.toml [--plan grow]
# Keep it current:          marketlake sync            (once; e.g. from cron)
#                           marketlake sync --watch    (a long-running scheduler; e.g. systemd)
#
# Each [coverage.<table>] names a production table and:
#   source   = the registry name serving it (twelvedata for stocks; twelvedata or binance for crypto)
#   universe = a list of symbols, a universe name (sp500, nasdaq100, dow30, crypto_top, us_listed or a
#              [universes.<name>] of your own), a file (one symbol per line, or a CSV with a Symbol
#              column), or a rule over the warehouse:
#              { rule = "top", n = 500, by = "median_dollar_volume_20", from = "stocks_daily_clean",
#                rerank = "weekly", hysteresis = 0.1 }
#              = the 500 symbols of stocks_daily_clean with the highest median dollar volume over their
#              last 20 bars, re-ranked weekly; a member keeps its place while it ranks within
#              500 * (1 + 0.1), so names near the cut do not churn (membership kept in coverage_members).
#   cadence  = how often to refresh (optional; default: the table's bar interval), e.g. 1min, 1h, 1d
#   history  = how far back to backfill (optional; default: the table's target: 3y daily, 1y hourly,
#              6 months 1-minute)
#   limit    = at most this many symbols of the universe, in its order (optional)
# A rule table fills once the table it ranks has data (the first sync backfills the daily tier).

warehouse = "./warehouse"

[twelvedata]
plan = "{plan}"          # basic (free), grow, pro, ultra or custom (+ credits_per_minute, credits_per_day)
# api_key = "..."        # better: the TWELVEDATA_API_KEY environment variable

[sync]
# notify_webhook = "https://hooks.example.com/marketlake"   # POSTed a JSON object on failure or staleness
# notify_command = "logger -t marketlake-sync"              # or a command, the JSON object on stdin
# stale_after = "3h"                                        # default: three cadences
"""

HYBRID = _HEADER + """
# --- daily: 2,500 stocks + 150 crypto -----------------------------------------------------------------
[coverage.stocks_daily_clean]
source = "twelvedata"
universe = "us_listed"   # the S&P 500 first, then the rest of the US-listed common stocks
limit = 2500
cadence = "1d"           # after each close: one credit per symbol per day

[coverage.crypto_daily_clean]
source = "binance"
universe = "crypto_top"  # the design's 150: list them here, or name a file of 150 pairs
cadence = "1d"

# --- hourly: 500 stocks + 100 crypto, the volume leaders of the daily tier -----------------------------
[coverage.stocks_hourly_clean]
source = "twelvedata"
universe = { rule = "top", n = 500, by = "median_dollar_volume_20", from = "stocks_daily_clean", rerank = "weekly", hysteresis = 0.1 }
cadence = "1h"

[coverage.crypto_hourly_clean]
source = "binance"
universe = { rule = "top", n = 100, by = "median_dollar_volume_20", from = "crypto_daily_clean", rerank = "weekly", hysteresis = 0.1 }
cadence = "1h"

# --- 1-minute: 100 stocks + 50 crypto, the most active --------------------------------------------------
[coverage.stocks_1min_clean]
source = "twelvedata"
universe = { rule = "top", n = 100, by = "median_dollar_volume_20", from = "stocks_daily_clean", rerank = "weekly", hysteresis = 0.1 }
cadence = "1min"

[coverage.crypto_1min_clean]
source = "binance"
universe = { rule = "top", n = 50, by = "median_dollar_volume_20", from = "crypto_daily_clean", rerank = "weekly", hysteresis = 0.1 }
cadence = "1min"
"""

FREE = _HEADER + """
# The free plan: 8 credits a minute, 800 a day. Intraday tiers are refreshed once a day after the close
# (one /time_series request carries up to 5,000 bars, so a day of 1-minute bars costs one credit);
# crypto comes from Binance, which costs no credits. About 560 credits a day; the first days also
# spend the backfill (~660 credits) and `sync` says what waits for the next day's credits.

[coverage.stocks_daily_clean]
source = "twelvedata"
universe = "sp500"
limit = 500
cadence = "1d"

[coverage.stocks_hourly_clean]
source = "twelvedata"
universe = { rule = "top", n = 50, by = "median_dollar_volume_20", from = "stocks_daily_clean", rerank = "weekly", hysteresis = 0.1 }
cadence = "1d"

[coverage.stocks_1min_clean]
source = "twelvedata"
universe = { rule = "top", n = 10, by = "median_dollar_volume_20", from = "stocks_daily_clean", rerank = "weekly", hysteresis = 0.1 }
cadence = "1d"

[coverage.crypto_daily_clean]
source = "binance"
universe = "crypto_top"
cadence = "1d"

[coverage.crypto_hourly_clean]
source = "binance"
universe = "crypto_top"
cadence = "1h"

[coverage.crypto_1min_clean]
source = "binance"
universe = ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "BNB/USD"]
cadence = "1min"
"""

PRESETS: dict[str, tuple[str, str]] = {"hybrid": (HYBRID, "grow"), "free": (FREE, "basic")}


def preset_text(name: str) -> str:
    try:
        text, plan = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
    return text.replace("{name}", name).replace("{plan}", plan)


def write_preset(name: str, path: Path, *, force: bool = False) -> Path:
    """Write preset `name` to `path`; refuses to replace an existing file unless `force`."""
    text = preset_text(name)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    path.write_text(text)
    return path


__all__ = ["PRESETS", "preset_text", "write_preset"]
