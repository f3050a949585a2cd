"""storage: the only package that touches Delta Lake and the warehouse directory.

`DeltaStore` creates the six production tables and the support tables, upserts bars in one commit per
write, reads with partition and statistics pruning, and reports inventory. `writer_lock` serialises
writers across processes.
"""

from marketlake.storage.inventory import ObjectInfo
from marketlake.storage.lock import LOCK_NAME, writer_lock
from marketlake.storage.store import DeltaStore, TableInfo
from marketlake.storage.writer import WriteResult

__all__ = ["LOCK_NAME", "DeltaStore", "ObjectInfo", "TableInfo", "WriteResult", "writer_lock"]
