"""Parameter and target validation, the application_name rule, and
registration through entry points (injectors, the sql probe, load kind and
lookup). No server needed."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from chaoskit_cli import run_chaoskit
from chaoskit_postgres import (
    ExhaustConnections,
    HoldLock,
    PostgresTarget,
    SlowQueries,
    SqlExpect,
    SqlLoad,
    SqlLoadParams,
    SqlLookup,
    SqlLookupParams,
    SqlParams,
    SqlProbe,
    application_name,
)
from pydantic import ValidationError

from chaoskit import Injector, LoadKind, Lookup, Params, Probe, TargetSpec, Verifiable

INJECTORS = {
    "postgres.exhaust_connections": ExhaustConnections,
    "postgres.hold_lock": HoldLock,
    "postgres.slow_queries": SlowQueries,
}


@pytest.mark.parametrize(
    ("injector", "params", "where"),
    [
        (ExhaustConnections, {"keep_free": -1}, "keep_free"),
        (ExhaustConnections, {"keep_free": "some"}, "keep_free"),
        (ExhaustConnections, {"max_open": 0}, "max_open"),
        (ExhaustConnections, {"open_timeout": "soon"}, "open_timeout"),
        (ExhaustConnections, {"open_timeout": 0}, "open_timeout"),
        (ExhaustConnections, {"as_superuser": True}, "as_superuser"),
        (HoldLock, {"where": "id = 1"}, "table"),
        (HoldLock, {"table": "accounts"}, "give either where"),
        (HoldLock, {"table": "accounts", "where": "id = 1", "mode": "share"}, "give either where"),
        (HoldLock, {"table": "accounts", "mode": "very exclusive"}, "mode"),
        (HoldLock, {"table": "accounts", "where": "id = 1", "row_lock": "hard"}, "row_lock"),
        (HoldLock, {"table": "a.b.c", "mode": "share"}, "table"),
        (HoldLock, {"table": "accounts", "where": ""}, "where"),
        (HoldLock, {"table": "accounts", "where": "true; drop table x"}, "without ';'"),
        (SlowQueries, {"backends": 0}, "backends"),
        (SlowQueries, {"backends": 501}, "backends"),
        (SlowQueries, {"sleep": 0}, "sleep"),
        (SlowQueries, {"sleep": "a while"}, "sleep"),
    ],
)
def test_bad_params_are_refused(injector: Any, params: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        injector.params.model_validate(params)
    assert where in str(raised.value)


@pytest.mark.parametrize(
    ("model", "params", "where"),
    [
        (SqlLoadParams, {"query": "select 1"}, "target"),
        (SqlLoadParams, {"target": "db"}, "query"),
        (SqlLoadParams, {"target": "db", "query": "insert into t values (%s)"}, "'%s'"),
        (SqlLoadParams, {"target": "db", "query": "insert into t values (%(uuid)s)"}, "%(uuid)s"),
        (SqlLoadParams, {"target": "db", "query": "select 100%"}, "literal % as %%"),
        (SqlLoadParams, {"target": "db", "query": "select %(id)x"}, "unknown placeholder"),
        (SqlLoadParams, {"target": "db", "query": "select 1", "pool_size": 0}, "pool_size"),
        (SqlLoadParams, {"target": "db", "query": "select 1", "timeout": 1}, "timeout"),
        (SqlLookupParams, {"table": "t"}, "target"),
        (SqlLookupParams, {"target": "db"}, "table"),
        (SqlLookupParams, {"target": "db", "table": "a.b.c"}, "schema.table"),
        (SqlLookupParams, {"target": "db", "table": "my table"}, "without spaces"),
        (SqlLookupParams, {"target": "db", "table": "t", "id_column": "t.id"}, "column name"),
        (SqlLookupParams, {"target": "db", "table": "t", "query": "select"}, "query"),
    ],
)
def test_bad_load_and_lookup_params_are_refused(
    model: type[Params], params: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(params)
    assert where in str(raised.value)


def test_good_load_and_lookup_params() -> None:
    query = "insert into t (id, seq, note) values (%(id)s, %(seq)s, '100%%') -- %(id)b %(seq)t"
    load = SqlLoadParams.model_validate({"target": "db", "query": query})
    lookup = SqlLookupParams.model_validate({"target": "db", "table": "Ledger.Transfers"})

    assert load.pool_size == 10
    assert lookup.id_column == "id"


def test_lock_modes_are_case_insensitive() -> None:
    params = HoldLock.params.model_validate({"table": "accounts", "mode": "ACCESS  Exclusive"})

    assert params.model_dump()["mode"] == "access exclusive"


@pytest.mark.parametrize(
    "target",
    [
        {"kind": "postgres"},
        {"kind": "postgres", "dsn": ""},
        {"kind": "postgres", "dsn": "host=127.0.0.1 port"},
        {"kind": "postgres", "dsn": "postgresql://a@127.0.0.1/db", "connect_timeout": 0},
        {"kind": "postgres", "dsn": "postgresql://a@127.0.0.1/db", "pool": 3},
        {"kind": "toxiproxy.proxy", "dsn": "postgresql://a@127.0.0.1/db"},
    ],
)
def test_bad_targets_are_refused(target: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PostgresTarget.model_validate(target)


def test_a_bad_dsn_error_does_not_quote_it() -> None:
    with pytest.raises(ValidationError) as raised:
        PostgresTarget.model_validate({"kind": "postgres", "dsn": "password=s3cret host"})
    assert "s3cret" not in str(raised.value).split("input_value")[0]


def test_probe_models() -> None:
    expect = SqlExpect.model_validate({"rows": ">= 1", "value": 0, "value_is": "< 5"})

    assert expect.rows is not None
    assert expect.rows.holds(2)
    assert expect.value_is is not None
    assert not expect.value_is.holds(5)
    with pytest.raises(ValidationError):
        SqlParams.model_validate({"target": "db"})
    with pytest.raises(ValidationError):
        SqlExpect.model_validate({"rows": "many"})


def test_application_name_is_the_tag_when_it_fits() -> None:
    assert application_name("chaoskit-abc123-pool") == "chaoskit-abc123-pool"


def test_a_long_tag_becomes_a_digest_and_its_tail() -> None:
    tag = "chaoskit-20250101T120000Z-ledger-keeps-serving-when-the-pool-3f2a1b-exhaust-pool"
    name = application_name(tag)

    assert len(name) == 63
    assert name.startswith("chaoskit-")
    assert name.endswith("exhaust-pool")
    assert name == application_name(tag)
    assert name != application_name(tag.replace("3f2a1b", "3f2a1c"))
    assert application_name("chaoskit-r-ünïcode fault").isascii()


def test_entry_points_register_every_plugin() -> None:
    injectors = {ep.name: ep.load() for ep in entry_points(group="chaoskit.injectors")}
    targets = {ep.name: ep.load() for ep in entry_points(group="chaoskit.targets")}
    probes = {ep.name: ep.load() for ep in entry_points(group="chaoskit.probes")}

    for name, cls in INJECTORS.items():
        assert injectors[name] is cls
        injector = cls()
        assert isinstance(injector, Injector)
        assert isinstance(injector, Verifiable)
        assert injector.name == name
        assert issubclass(injector.params, Params)
        assert injector.target_kinds == ("postgres",)
    assert targets["postgres"] is PostgresTarget
    assert issubclass(PostgresTarget, TargetSpec)
    assert probes["sql"] is SqlProbe
    assert isinstance(SqlProbe(), Probe)
    [load] = [ep.load() for ep in entry_points(group="chaoskit.load") if ep.name == "sql"]
    [lookup] = [ep.load() for ep in entry_points(group="chaoskit.lookups") if ep.name == "sql"]
    assert load is SqlLoad
    assert isinstance(SqlLoad(), LoadKind)
    assert SqlLoad.enforces_timeout is True
    assert lookup is SqlLookup
    assert isinstance(SqlLookup(), Lookup)
    assert SqlLookup.counts_copies is True


def test_chaoskit_plugins_lists_them(tmp_path: Path) -> None:
    code, out, err = run_chaoskit(["plugins"], tmp_path)

    assert code == 0, out + err
    for name in [*INJECTORS, "sql", "postgres"]:
        assert name in out


BAD_EXPERIMENT = """\
version: 1
title: bad postgres params
targets:
  db: {kind: postgres, dsn: "postgresql://app@127.0.0.1:5432/ledger"}
steady_state:
  every: 100ms
  probes:
    - name: db-up
      sql: {target: db, query: "select 1"}
      expect: {value: 1, rows: lots}
faults:
  - name: pool
    injector: postgres.exhaust_connections
    target: db
    with: {keep_free: -2}
    at: 0s
    duration: 1s
  - name: lock
    injector: postgres.hold_lock
    target: db
    with: {table: accounts}
    at: 0s
    duration: 1s
"""


def test_validate_points_at_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_EXPERIMENT)

    code, out, err = run_chaoskit(["validate", str(path)], tmp_path)

    assert code == 2, out + err
    text = out + err
    # Where the core places a probe's expect error is its business: line 9 or 10.
    assert f"{path}:9:" in text or f"{path}:10:" in text
    assert "steady_state.probes[0]" in text
    assert "expected a comparison like" in text
    assert f"{path}:15:23: faults[0].with.keep_free" in text
    assert f"{path}:21:11: faults[1].with: give either where" in text


BAD_LOAD = """\
version: 1
title: bad sql load and lookup
targets:
  db: {kind: postgres, dsn: "postgresql://app@127.0.0.1:5432/ledger"}
steady_state:
  every: 100ms
  probes:
    - name: db-up
      sql: {target: db, query: "select 1"}
load:
  - name: transfers
    rate: 100/s
    sql:
      target: db
      query: "insert into transfers (id) values (%s)"
      pool_size: 0
    writes:
      lookup:
        batch: 50000
        sql: {target: db, table: "a.b.c", id_column: id}
"""


def test_validate_points_at_the_load_and_lookup_params(tmp_path: Path) -> None:
    path = tmp_path / "bad-load.yaml"
    path.write_text(BAD_LOAD)

    code, out, err = run_chaoskit(["validate", str(path)], tmp_path)

    assert code == 2, out + err
    text = out + err
    assert f"{path}:15:14: load[0].sql.query: unknown placeholder(s) ['%s']" in text
    assert f"{path}:16:18: load[0].sql.pool_size" in text
    assert f"{path}:20:34: load[0].writes.lookup.sql.table: expected a table name" in text
