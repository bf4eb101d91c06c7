"""The lab's knobs: environment values of the services, set with ``--set NAME=VALUE``.

Each knob gives a known ground truth (pool size, timeouts, acknowledgement mode, deliberate
write drops) that chaoskit's measurements can be checked against. The services own the
defaults (``KNOBS`` in compose/services/*.py); this table mirrors them for validation and help,
and a test keeps the two equal. Values not set are left to the service's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chaoskit.lab.errors import LabUsageError

__all__ = ["KNOBS", "Knob", "check_settings", "knobs_for", "parse_settings"]


@dataclass(frozen=True)
class Knob:
    """One knob: the service that reads it, its default and what it means.

    ``kind`` is ``int``, ``float``, ``choice`` or ``str``; ``wired`` knobs (addresses, ports,
    DSNs) are set by the lab runtime itself and cannot be changed with ``--set``.
    """

    name: str
    service: str
    default: str
    meaning: str
    kind: str = "int"
    choices: tuple[str, ...] = ()
    wired: bool = False

    def check(self, value: str) -> str:
        """The value, stripped, if this knob accepts it; else :class:`LabUsageError`."""
        text = value.strip()
        if self.kind == "str":
            return text
        if self.kind == "choice":
            if text not in self.choices:
                raise LabUsageError(f"{self.name}={value!r}: expected one of {self.choices}")
            return text
        try:
            number = int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise LabUsageError(f"{self.name}={value!r}: expected {_a(self.kind)}") from None
        if number < 0:
            raise LabUsageError(f"{self.name}={value!r}: must not be negative")
        return text


def _a(kind: str) -> str:
    return "an integer" if kind == "int" else "a number"


KNOBS: dict[str, Knob] = {
    knob.name: knob
    for knob in (
        Knob("LEDGER_HOST", "ledger", "127.0.0.1", "address to listen on", "str", wired=True),
        Knob("LEDGER_PORT", "ledger", "18100", "port to listen on", wired=True),
        Knob(
            "LEDGER_DSN",
            "ledger",
            "postgresql://ledger:ledger@127.0.0.1:15432/ledger",
            "PostgreSQL to write to (in the lab: the ledger_postgres Toxiproxy proxy)",
            "str",
            wired=True,
        ),
        Knob("LEDGER_POOL_SIZE", "ledger", "10", "connections in the pool (fixed size)"),
        Knob(
            "LEDGER_POOL_TIMEOUT",
            "ledger",
            "2.0",
            "seconds a request waits for a pooled connection",
            "float",
        ),
        Knob(
            "LEDGER_STATEMENT_TIMEOUT",
            "ledger",
            "5.0",
            "server-side statement_timeout, seconds (0: none)",
            "float",
        ),
        Knob(
            "LEDGER_CONNECT_TIMEOUT",
            "ledger",
            "3",
            "libpq connect_timeout, whole seconds (0: none)",
        ),
        Knob(
            "LEDGER_RETRIES",
            "ledger",
            "1",
            "extra attempts after a connection error (not after timeouts)",
        ),
        Knob(
            "LEDGER_ACK_MODE",
            "ledger",
            "after_commit",
            "after_commit, or before_commit: acknowledge at once and flush from a memory buffer",
            "choice",
            ("after_commit", "before_commit"),
        ),
        Knob(
            "LEDGER_FLUSH_INTERVAL",
            "ledger",
            "0.5",
            "before_commit: seconds between buffer flushes",
            "float",
        ),
        Knob(
            "LEDGER_DROP_EVERY_N",
            "ledger",
            "0",
            "acknowledge but do not store write requests number N, 2N, ... (0: off)",
        ),
        Knob(
            "LEDGER_STARTUP_DELAY",
            "ledger",
            "0",
            "seconds to wait before anything else at start",
            "float",
        ),
        Knob(
            "LEDGER_HEALTH_TIMEOUT",
            "ledger",
            "1.0",
            "seconds /health waits for `select 1`",
            "float",
        ),
        Knob(
            "LEDGER_DB_WAIT",
            "ledger",
            "60",
            "seconds to keep trying the database at start before exiting 1",
            "float",
        ),
        Knob("CATALOG_HOST", "catalog", "127.0.0.1", "address to listen on", "str", wired=True),
        Knob("CATALOG_PORT", "catalog", "18101", "port to listen on", wired=True),
        Knob(
            "CATALOG_LEDGER_URL",
            "catalog",
            "http://127.0.0.1:18190",
            "ledger's base URL (in the lab: the catalog_ledger Toxiproxy proxy)",
            "str",
            wired=True,
        ),
        Knob(
            "CATALOG_COUPLED",
            "catalog",
            "0",
            "1: every /items call first calls ledger's /health; 0: never",
            "choice",
            ("0", "1"),
        ),
        Knob(
            "CATALOG_LEDGER_TIMEOUT",
            "catalog",
            "30",
            "seconds a coupled call waits for ledger",
            "float",
        ),
    )
}


def parse_settings(items: Iterable[str]) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` (from ``--set``) checked against :data:`KNOBS`."""
    settings: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise LabUsageError(f"--set {item!r}: expected NAME=VALUE")
        settings.update(check_settings({name.strip(): value}))
    return settings


def check_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """The settings with their values checked; unknown or wired knobs are refused."""
    checked: dict[str, str] = {}
    for name, value in settings.items():
        knob = KNOBS.get(name)
        if knob is None:
            known = ", ".join(n for n, k in KNOBS.items() if not k.wired)
            raise LabUsageError(f"unknown knob {name!r}; the knobs are: {known}")
        if knob.wired:
            raise LabUsageError(
                f"{name} is set by the lab runtime (ports live in compose/ports.env)"
            )
        checked[name] = knob.check(value)
    return checked


def knobs_for(service: str, settings: Mapping[str, str]) -> dict[str, str]:
    """The settings that ``service`` reads."""
    return {name: value for name, value in settings.items() if KNOBS[name].service == service}
