"""Targets of the test proxies, and the type of the ``make_named_proxy`` fixture.
Faults are driven with chaoskit.testing (the ``faults`` fixture)."""

from __future__ import annotations

from collections.abc import Callable

from chaoskit_toxiproxy import ProxyTarget
from servers import ProxyHandle


def target_of(proxy: ProxyHandle, *, ensure: bool = False) -> ProxyTarget:
    """The chaoskit target of a test proxy; with ``ensure`` it carries
    listen/upstream, so that preflight creates the proxy when it is missing."""
    if ensure:
        return ProxyTarget(
            server=proxy.server_url, name=proxy.name, listen=proxy.listen, upstream=proxy.upstream
        )
    return ProxyTarget(server=proxy.server_url, name=proxy.name)


MakeNamedProxy = Callable[[str, str], ProxyHandle]
"""The type of the ``make_named_proxy`` fixture: ``(name, upstream) -> proxy``."""
