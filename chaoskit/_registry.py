"""Plugin discovery through entry points, with validation of every plugin.

Three groups: ``chaoskit.injectors``, ``chaoskit.probes``, ``chaoskit.targets``.
A plugin that fails to import or does not fit its protocol is recorded as
*broken* with its distribution and the reason; it is never silently dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel

from chaoskit._errors import PluginError
from chaoskit._plugin_api import (
    Expect,
    Injector,
    LoadKind,
    Lookup,
    Params,
    Probe,
    TargetSpec,
)

__all__ = ["GROUPS", "BrokenPlugin", "Plugin", "Registry", "discover"]

Group = Literal[
    "chaoskit.injectors", "chaoskit.probes", "chaoskit.targets", "chaoskit.load", "chaoskit.lookups"
]
GROUPS: tuple[Group, ...] = (
    "chaoskit.injectors",
    "chaoskit.probes",
    "chaoskit.targets",
    "chaoskit.load",
    "chaoskit.lookups",
)
_KIND_NOUN = {
    "chaoskit.injectors": "injector",
    "chaoskit.probes": "probe kind",
    "chaoskit.targets": "target kind",
    "chaoskit.load": "load kind",
    "chaoskit.lookups": "lookup kind",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Plugin(Generic[T]):
    """A validated plugin: the loaded object and where it came from."""

    name: str
    group: Group
    distribution: str
    version: str
    obj: T


@dataclass(frozen=True)
class BrokenPlugin:
    name: str
    group: Group
    distribution: str
    version: str
    reason: str

    def describe(self) -> str:
        return (
            f"{_KIND_NOUN[self.group]} {self.name!r} from distribution "
            f"{self.distribution} {self.version} ({self.group}) is broken: {self.reason}"
        )


@dataclass
class Registry:
    """Installed plugins. Entry points are listed up front but a plugin is
    imported and validated only when it is first asked for, so that a run
    imports just the plugins its experiment uses."""

    available: dict[Group, dict[str, EntryPoint]] = field(
        default_factory=lambda: {group: {} for group in GROUPS}
    )
    injectors: dict[str, Plugin[Injector]] = field(default_factory=dict)
    probes: dict[str, Plugin[Probe]] = field(default_factory=dict)
    targets: dict[str, Plugin[type[TargetSpec]]] = field(default_factory=dict)
    loads: dict[str, Plugin[LoadKind]] = field(default_factory=dict)
    lookups: dict[str, Plugin[Lookup]] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def versions(self) -> dict[str, str]:
        """The distributions of the plugins imported so far (a run imports those
        its experiment uses), each with its version, by name; chaoskit's own
        built-ins apart (their version is chaoskit's)."""
        stores = (self.injectors, self.probes, self.targets, self.loads, self.lookups)
        found: dict[str, str] = {}
        for store in stores:
            for plugin in store.values():
                if plugin.distribution != "chaoskit":
                    found[plugin.distribution] = plugin.version
        return dict(sorted(found.items()))

    def names(self, group: Group) -> list[str]:
        return sorted(self.available[group])

    def load(self, group: Group, names: Iterable[str] | None = None) -> None:
        """Import and validate the named plugins of ``group`` (all by default);
        unknown names are ignored here (the loader reports them)."""
        wanted = self.available[group] if names is None else names
        for name in list(wanted):
            if name in self.available[group] and not self._loaded(group, name):
                self._add(self.available[group][name], group)

    def load_all(self) -> None:
        for group in GROUPS:
            self.load(group)

    def _loaded(self, group: Group, name: str) -> bool:
        return name in self._store(group) or any(
            b.name == name and b.group == group for b in self.broken
        )

    def _store(self, group: Group) -> dict[str, Plugin[Any]]:
        stores: dict[Group, dict[str, Plugin[Any]]] = {
            "chaoskit.injectors": self.injectors,
            "chaoskit.probes": self.probes,
            "chaoskit.targets": self.targets,
            "chaoskit.load": self.loads,
            "chaoskit.lookups": self.lookups,
        }
        return stores[group]

    def _get(self, group: Group, name: str, store: dict[str, Plugin[T]]) -> T:
        self.load(group, [name])
        if name in store:
            return store[name].obj
        raise PluginError(self.unknown(group, name))

    def injector(self, name: str) -> Injector:
        return self._get("chaoskit.injectors", name, self.injectors)

    def probe(self, name: str) -> Probe:
        return self._get("chaoskit.probes", name, self.probes)

    def load_kind(self, name: str) -> LoadKind:
        return self._get("chaoskit.load", name, self.loads)

    def lookup_kind(self, name: str) -> Lookup:
        return self._get("chaoskit.lookups", name, self.lookups)

    def target_kind(self, name: str) -> type[TargetSpec]:
        return self._get("chaoskit.targets", name, self.targets)

    def unknown(self, group: Group, name: str) -> str:
        """Why ``name`` cannot be used: broken (and why), or unknown (and what is)."""
        for broken in self.broken:
            if broken.name == name and broken.group == group:
                return broken.describe()
        installed = ", ".join(self.names(group)) or "none"
        return f"unknown {_KIND_NOUN[group]} {name!r}; installed: {installed}"

    def _add(self, entry_point: EntryPoint, group: Group) -> None:
        dist = entry_point.dist
        dist_name = dist.name if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        try:
            obj = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure makes it broken
            reason = f"import of {entry_point.value} failed: {type(exc).__name__}: {exc}"
            self.broken.append(BrokenPlugin(entry_point.name, group, dist_name, version, reason))
            return
        problems = check_plugin(entry_point.name, group, obj)
        if problems:
            self.broken.append(
                BrokenPlugin(entry_point.name, group, dist_name, version, "; ".join(problems))
            )
            return
        if group != "chaoskit.targets":
            try:
                obj = obj()
            except Exception as exc:  # noqa: BLE001 - a plugin that cannot be built is broken
                reason = f"{entry_point.value}() failed: {type(exc).__name__}: {exc}"
                self.broken.append(
                    BrokenPlugin(entry_point.name, group, dist_name, version, reason)
                )
                return
        self._store(group)[entry_point.name] = Plugin(
            entry_point.name, group, dist_name, version, obj
        )


def discover(extra: Iterable[tuple[EntryPoint, Group]] = ()) -> Registry:
    """List installed plugins (plus ``extra``, for tests); nothing is imported yet."""
    registry = Registry()
    installed = entry_points()  # one scan of the installed distributions
    found = [(ep, group) for group in GROUPS for ep in installed.select(group=group)]
    for entry_point, group in [*found, *extra]:
        previous = registry.available[group].get(entry_point.name)
        if previous is not None and _dist(previous) != _dist(entry_point):
            # two distributions claim one name: neither wins silently
            reason = (
                f"the name is also registered by distribution {_dist(previous)}; "
                "uninstall one of them"
            )
            registry.broken.append(
                BrokenPlugin(entry_point.name, group, _dist(entry_point), "?", reason)
            )
            continue
        registry.available[group][entry_point.name] = entry_point
    for broken in registry.broken:
        registry.available[broken.group].pop(broken.name, None)
    return registry


def _dist(entry_point: EntryPoint) -> str:
    return entry_point.dist.name if entry_point.dist is not None else "?"


def check_plugin(name: str, group: Group, obj: object) -> list[str]:
    """What is wrong with ``obj`` as a plugin of ``group`` named ``name``."""
    if group == "chaoskit.targets":
        return _check_target(name, obj)
    if not inspect.isclass(obj):
        return [f"entry point must name a class, got {type(obj).__name__}"]
    problems: list[str] = []
    declared = getattr(obj, "name", None)
    if declared != name:
        problems.append(f"class attribute name is {declared!r}, entry point says {name!r}")
    _check_model(obj, "params", Params, problems)
    if group == "chaoskit.injectors":
        kinds = getattr(obj, "target_kinds", None)
        if not (isinstance(kinds, tuple) and kinds and all(isinstance(k, str) for k in kinds)):
            problems.append("target_kinds must be a non-empty tuple of target kind names")
        methods = {"preflight": 1, "prepare": 1, "inject": 2, "revert": 2}
    elif group == "chaoskit.load":
        methods = {"send": 1}
    elif group == "chaoskit.lookups":
        methods = {"find": 2}
        if not isinstance(getattr(obj, "counts_copies", None), bool):
            problems.append("counts_copies must be a bool class attribute")
    else:
        _check_model(obj, "expect", Expect, problems)
        methods = {"observe": 1}
    for method, arity in methods.items():
        problems.extend(_check_method(obj, method, arity))
    if group == "chaoskit.injectors" and hasattr(obj, "verify"):
        problems.extend(_check_method(obj, "verify", 2))
    return problems


def _check_model(obj: object, attr: str, base: type[BaseModel], problems: list[str]) -> None:
    model = getattr(obj, attr, None)
    if not (inspect.isclass(model) and issubclass(model, base)):
        problems.append(f"{attr} must be a subclass of chaoskit.{base.__name__}")


def _check_method(cls: object, method: str, arity: int) -> list[str]:
    function = getattr(cls, method, None)
    names = ["ctx", "ids"] if method == "find" else ["ctx", "revert_state"]
    args = ", ".join(names[:arity])
    if function is None or not inspect.iscoroutinefunction(function):
        return [f"missing async method {method}(self, {args})"]
    parameters = list(inspect.signature(function).parameters.values())[1:]
    if len(parameters) != arity:
        return [f"{method} must take (self, {args}), takes {len(parameters)} argument(s)"]
    return []


def _check_target(name: str, obj: object) -> list[str]:
    if not (inspect.isclass(obj) and issubclass(obj, TargetSpec)):
        return ["entry point must name a subclass of chaoskit.TargetSpec"]
    annotation = obj.model_fields["kind"].annotation
    if get_origin(annotation) is not Literal or get_args(annotation) != (name,):
        return [f"field kind must be Literal[{name!r}]"]
    return []
