"""A toy vendor, written the way a vendor author would: its own wire format, fake server, client and registry entry.

Nothing outside this folder knows it: `register()` (or the entry point `marketlake.sources`, see
docs/vendors.md) makes `ingest(store, "toy", ...)`, `marketlake ingest toy` and `[toy]` in the config work.
"""

from tests.vendors.toy_vendor.fake import FakeToy, ToyState, toy_bars
from tests.vendors.toy_vendor.vendor import VENDOR, ToyConfig, ToyVendor, register, unregister

__all__ = ["VENDOR", "FakeToy", "ToyConfig", "ToyState", "ToyVendor", "register", "toy_bars", "unregister"]
