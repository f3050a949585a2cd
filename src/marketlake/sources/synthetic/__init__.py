"""The `synthetic` source: an offline, deterministic market (see market.py for the model)."""

from marketlake.sources.synthetic.source import SyntheticSource
from marketlake.sources.synthetic.universe import crypto_universe, stock_universe

__all__ = ["SyntheticSource", "crypto_universe", "stock_universe"]
