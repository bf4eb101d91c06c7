"""chaoskit-postgres: PostgreSQL faults (connection exhaustion, held locks, slow
query storms), the ``postgres`` target kind, the ``sql`` probe, the ``sql``
load kind and the ``sql`` audit lookup, registered through entry points.

Names are resolved lazily (PEP 562): the holder process
(``python -m chaoskit_postgres._holder``) starts on every inject and imports
this package first, so importing it must stay cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit_postgres._base import HolderRevertState, application_name
    from chaoskit_postgres.exhaust_connections import ExhaustConnections, ExhaustConnectionsParams
    from chaoskit_postgres.hold_lock import HoldLock, HoldLockParams
    from chaoskit_postgres.slow_queries import SlowQueries, SlowQueriesParams
    from chaoskit_postgres.sql import SqlExpect, SqlParams, SqlProbe
    from chaoskit_postgres.sql_load import SqlLoad, SqlLoadParams
    from chaoskit_postgres.sql_lookup import SqlLookup, SqlLookupParams
    from chaoskit_postgres.target import PostgresTarget

_HOMES = {
    "chaoskit_postgres._base": ("HolderRevertState", "application_name"),
    "chaoskit_postgres.exhaust_connections": ("ExhaustConnections", "ExhaustConnectionsParams"),
    "chaoskit_postgres.hold_lock": ("HoldLock", "HoldLockParams"),
    "chaoskit_postgres.slow_queries": ("SlowQueries", "SlowQueriesParams"),
    "chaoskit_postgres.sql": ("SqlExpect", "SqlParams", "SqlProbe"),
    "chaoskit_postgres.sql_load": ("SqlLoad", "SqlLoadParams"),
    "chaoskit_postgres.sql_lookup": ("SqlLookup", "SqlLookupParams"),
    "chaoskit_postgres.target": ("PostgresTarget",),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ExhaustConnections",
    "ExhaustConnectionsParams",
    "HoldLock",
    "HoldLockParams",
    "HolderRevertState",
    "PostgresTarget",
    "SlowQueries",
    "SlowQueriesParams",
    "SqlExpect",
    "SqlLoad",
    "SqlLoadParams",
    "SqlLookup",
    "SqlLookupParams",
    "SqlParams",
    "SqlProbe",
    "application_name",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'chaoskit_postgres' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
