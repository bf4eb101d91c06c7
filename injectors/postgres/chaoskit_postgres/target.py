"""The ``postgres`` target kind: one PostgreSQL database, by libpq connection string."""

from __future__ import annotations

from typing import Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, field_validator

from chaoskit import Duration, TargetSpec

__all__ = ["PostgresTarget"]


class PostgresTarget(TargetSpec):
    """A PostgreSQL database that faults and ``sql`` probes connect to.

    The role in ``dsn`` is the one the faults act as: the connections they hold
    count against its limits, and revert ends them with ``pg_terminate_backend``
    (allowed for one's own role). A superuser role can still connect through
    the reserved slots while the pool is exhausted; an ordinary one cannot.
    """

    kind: Literal["postgres"] = "postgres"
    dsn: str = Field(
        min_length=1,
        examples=["postgresql://app:${env:PGPASSWORD}@127.0.0.1:5432/ledger"],
        description=(
            "libpq connection string or URI; put a password in as ${env:NAME} so that it "
            "is redacted from the journal and results"
        ),
    )
    connect_timeout: Duration = Field(
        default=5.0,
        gt=0,
        description="how long one connection attempt may take (libpq waits at least 2s)",
    )

    @field_validator("dsn")
    @classmethod
    def _parseable(cls, value: str) -> str:
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            # The parser's message may quote the string, password included: leave it out.
            raise ValueError(
                "expected a libpq connection string, like "
                "postgresql://app@127.0.0.1:5432/ledger or 'host=127.0.0.1 dbname=ledger'"
            ) from None
        return value
