"""The S&P warehouse of tests/datasets, shared here."""

from tests.datasets.conftest import sp500, sp500_shared, sp500_template  # noqa: F401
