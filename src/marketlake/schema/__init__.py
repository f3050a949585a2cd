"""What exists: the 97-field catalogue, the six table specs, support schemas and naming.

Everything else in marketlake imports from here; this package imports nothing else of ours.
"""

from marketlake.schema.arrow import arrow_type, bar_schema, storage_schema
from marketlake.schema.fields import (
    BAR_COLUMNS,
    FIELD_NAMES,
    FIELDS,
    FIELDS_BY_NAME,
    GROUPS,
    IDENTITY_COLUMNS,
    KEY_COLUMNS,
    METADATA_COLUMNS,
    FieldSpec,
)
from marketlake.schema.naming import SUPPORT_TABLES, ObjectClass, classify
from marketlake.schema.support import SUPPORT_SCHEMAS
from marketlake.schema.tables import (
    CLUSTER_COLUMNS,
    LEGACY_PARTITION_COLUMNS,
    PARTITION_COLUMN,
    TABLE_NAMES,
    TABLES,
    TableSpec,
    get_table,
)

__all__ = [
    "BAR_COLUMNS",
    "CLUSTER_COLUMNS",
    "FIELDS",
    "FIELDS_BY_NAME",
    "FIELD_NAMES",
    "FieldSpec",
    "GROUPS",
    "IDENTITY_COLUMNS",
    "KEY_COLUMNS",
    "LEGACY_PARTITION_COLUMNS",
    "METADATA_COLUMNS",
    "ObjectClass",
    "PARTITION_COLUMN",
    "SUPPORT_SCHEMAS",
    "SUPPORT_TABLES",
    "TABLES",
    "TABLE_NAMES",
    "TableSpec",
    "arrow_type",
    "bar_schema",
    "classify",
    "get_table",
    "storage_schema",
]
