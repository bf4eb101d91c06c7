"""structlog, configured once per process: console on a terminal, JSON lines
otherwise, secrets redacted from every event."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from structlog.typing import FilteringBoundLogger

from chaoskit._secrets import Secrets

__all__ = ["configure_logging"]

LogFormat = Literal["auto", "console", "json"]


def configure_logging(
    secrets: Secrets, verbose: bool = False, fmt: LogFormat = "auto"
) -> FilteringBoundLogger:
    def redact(
        logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return secrets.redact(dict(event))  # type: ignore[no-any-return]

    console = sys.stderr.isatty() if fmt == "auto" else fmt == "console"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.INFO
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logger: FilteringBoundLogger = structlog.get_logger("chaoskit")
    return logger
