"""The experiment document as typed models.

The static classes here fix the shape every experiment shares. Which target
kinds, injectors and probe kinds exist depends on the installed plugins, so
:func:`build_experiment_model` derives the concrete model from a registry:
faults become a union discriminated by ``injector`` (each with its injector's
own ``with:`` model), targets a union discriminated by ``kind``, and probes a
union keyed by the one probe-kind key they carry (``http:``, ``tcp:`` ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    create_model,
    model_validator,
)

from chaoskit._load_model import LoadSpec, LookupSpec, TaskSpec, WritesSpec, lift_kind_key
from chaoskit._plugin_api import Expect, Params, Scope, TargetSpec
from chaoskit._registry import Group, Plugin, Registry
from chaoskit._units import (
    Duration,
    DurationThreshold,
    NumberThreshold,
    PercentageThreshold,
    PositiveDuration,
)

__all__ = [
    "Expectations",
    "Experiment",
    "FaultSpec",
    "ProbeSpec",
    "Recovery",
    "Safeguard",
    "SteadyState",
    "build_experiment_model",
]

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeSpec(Strict):
    """A probe as written: a name, a scope, a schedule, one kind key and ``expect``."""

    probe_kind: ClassVar[str] = ""

    name: Name = Field(description="unique among probes; used by safeguards and results")
    scope: Scope = Field(
        "target",
        description="target: expected to be hurt; outside: must not be hurt (containment)",
    )
    every: PositiveDuration | None = Field(
        None, description="sample interval; default steady_state.every"
    )
    timeout: PositiveDuration | None = Field(
        None, description="give up on one sample after this long; default: the interval, >= 1s"
    )
    description: str = ""
    kind_params: Params
    expect: Expect


class FaultSpec(Strict):
    """A fault as written: which injector acts on which target, when, how long."""

    name: Name = Field(description="unique among faults")
    injector: str = Field(description="an installed injector, e.g. toxiproxy.latency")
    target: Name = Field(description="the name of a target under targets:")
    at: Duration = Field(0.0, description="start offset from the start of the fault phase")
    duration: PositiveDuration = Field(description="how long the fault stays in force")
    description: str = ""
    params: Params = Field(alias="with")


class SteadyState(Strict):
    every: PositiveDuration = Field(1.0, description="default sample interval of every probe")
    stable_for: Duration = Field(
        2.0, description="how long the steady state must hold to count as recovered"
    )
    baseline: Duration | None = Field(
        None, description="how long to sample before injecting; default: stable_for"
    )
    probes: list[ProbeSpec] = Field(min_length=1)

    @property
    def baseline_window(self) -> float:
        return self.stable_for if self.baseline is None else self.baseline


class Safeguard(Strict):
    probe: Name = Field(description="name of a steady-state probe to watch")
    abort_if_failing_for: Duration = Field(
        0.0, description="abort when the probe has failed continuously for this long"
    )


class Recovery(Strict):
    timeout: PositiveDuration = Field(
        60.0, description="give up waiting for the steady state after this"
    )
    probes: list[ProbeSpec] = Field(
        default_factory=list, description="run once after recovery; each must pass"
    )


class Expectations(Strict):
    mttr: DurationThreshold | None = Field(
        None, description="time to restore (worst iteration), e.g. '< 30s'"
    )
    ttd: DurationThreshold | None = Field(
        None, description="time from the first inject to the first violation"
    )
    time_to_heal: DurationThreshold | None = Field(
        None, description="time from the last revert to recovery"
    )
    contained: bool | None = Field(None, description="true: no outside-scope probe may breach")
    data_loss: NumberThreshold | None = Field(
        None, description="lost writes (acknowledged, then absent), all streams: e.g. 0"
    )
    data_loss_rate: PercentageThreshold | None = Field(None, description="lost / acknowledged")
    error_rate_during_fault: PercentageThreshold | None = Field(
        None, description="(failed + indeterminate) / sent in the fault phase, all streams"
    )
    p99_during_fault: DurationThreshold | None = Field(
        None, description="the worst stream's p99 latency in the fault phase"
    )


class LabRequirement(Strict):
    """The chaoskit lab this experiment runs against (docs/lab.md). ``chaoskit
    run`` brings it up with these knobs when it is not running, and takes down
    what it started afterwards."""

    runtime: Literal["auto", "docker", "process"] = Field(
        "auto", description="auto: the running lab's, else docker when an engine answers"
    )
    knobs: dict[str, str | int | float] = Field(
        default_factory=dict, description="knob values, e.g. LEDGER_DROP_EVERY_N: 7"
    )
    keep: bool = Field(False, description="leave the lab running after the run")


class Experiment(Strict):
    version: Literal[1] = Field(description="the format version: 1")
    title: str = Field(min_length=1, description="one line: what the experiment shows")
    description: str = Field("", description="what it does and which verdict to expect")
    tags: list[str] = Field(default_factory=list)
    lab: LabRequirement | None = Field(None, description="the lab this experiment needs")
    targets: dict[Name, TargetSpec] = Field(
        default_factory=dict, description="named things in the system under test"
    )
    steady_state: SteadyState = Field(description="what healthy means: probes and tolerances")
    faults: list[FaultSpec] = Field(default_factory=list, description="what to break, when")
    safeguards: list[Safeguard] = Field(
        default_factory=list, description="stop conditions that abort the run"
    )
    recovery: Recovery = Field(default_factory=Recovery)
    expect: Expectations = Field(
        default_factory=Expectations, description="conditions on the measurements"
    )
    repeat: int = Field(1, ge=1, le=1000, description="run the fault phase and recovery N times")
    load: list[LoadSpec] = Field(
        default_factory=list, description="traffic driven through every phase"
    )


def _constructible(model: type[BaseModel]) -> bool:
    return all(not f.is_required() for f in model.model_fields.values())


def _with_default(model: type[BaseModel], alias: str) -> Any:
    if _constructible(model):
        return Field(default_factory=model, alias=alias)
    return Field(alias=alias)


class _Refuse(BaseModel):
    """Base of models that refuse every value; ``explain`` words the refusal."""

    model_config = ConfigDict(extra="allow")
    explain: ClassVar[Callable[[Any], str]]

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        raise ValueError(cls.explain(value))


def _refusing(name: str, explain: Callable[[Any], str]) -> type[BaseModel]:
    model = create_model(name, __base__=_Refuse)
    model.explain = staticmethod(explain)
    return model


_UNKNOWN = "__unknown__"


def _unknown_model(field: str, group: Group, registry: Registry) -> type[BaseModel]:
    """A union member for names no loaded plugin has: it refuses the name with
    the list of installed plugins and ignores the rest of the entry."""

    def refuse(value: Any) -> Any:
        raise ValueError(registry.unknown(group, str(value)))

    model: type[BaseModel] = create_model(
        f"Unknown_{field}",
        __config__=ConfigDict(extra="allow"),
        **{field: (Annotated[Any, BeforeValidator(refuse)], ...)},  # type: ignore[call-overload]
    )
    return model


def _tagged_union(members: dict[str, Any], field: str, group: Group, registry: Registry) -> Any:
    """A union of ``members`` discriminated by the value of ``field``, with a
    fallback member that explains an unknown value."""

    def tag_of(value: Any) -> str | None:
        tag = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        if tag is None:
            return None
        return tag if isinstance(tag, str) and tag in members else _UNKNOWN

    choices = [Annotated[model, Tag(name)] for name, model in members.items()]
    choices.append(Annotated[_unknown_model(field, group, registry), Tag(_UNKNOWN)])
    return Annotated[
        Union[tuple(choices)],  # noqa: UP007
        Discriminator(
            tag_of,
            custom_error_type="missing_discriminator",
            custom_error_message=f"missing required field {field!r}",
        ),
    ]


def _keyed_union(
    models: dict[str, type[BaseModel]], group: Group, noun: str, registry: Registry
) -> Any:
    """A union of models told apart by which kind key an entry carries
    (``http:``, ``tcp:`` ...), with a member that explains an unusable key."""
    known_kinds = set(registry.names(group))
    expected_key = f"expected exactly one {noun} kind key, one of: " + ", ".join(
        sorted(known_kinds)
    )

    def kind_of(value: Any) -> str | None:
        if isinstance(value, dict):
            present = [key for key in value if key in known_kinds]
            if len(present) == 1:
                return present[0] if present[0] in models else _UNKNOWN
            return None
        kind = getattr(value, "probe_kind", "") or getattr(value, "load_kind", "")
        return kind or None

    def why_unusable(value: Any) -> str:
        present = [key for key in value if key in known_kinds] if isinstance(value, dict) else []
        if len(present) == 1:
            return registry.unknown(group, present[0])
        return expected_key

    unusable = _refusing(f"Unknown_{noun}", why_unusable)
    members = [Annotated[model, Tag(kind)] for kind, model in models.items()]
    if not members:
        return unusable
    members.append(Annotated[unusable, Tag(_UNKNOWN)])
    return Annotated[
        Union[tuple(members)],  # noqa: UP007
        Discriminator(kind_of, custom_error_type=f"{noun}_kind", custom_error_message=expected_key),
    ]


def _kind_models(
    plugins: dict[str, Plugin[Any]], base: type[BaseModel], prefix: str, kind_attr: str
) -> dict[str, type[BaseModel]]:
    """One model per plugin: ``base`` plus the plugin's params under its kind key."""
    models: dict[str, type[BaseModel]] = {}
    for kind, plugin in sorted(plugins.items()):
        model = create_model(
            f"{prefix}_{_ident(kind)}",
            __base__=base,
            kind_params=(plugin.obj.params, Field(alias=kind)),
        )
        setattr(model, kind_attr, kind)
        models[kind] = model
    return models


def build_experiment_model(registry: Registry) -> type[Experiment]:
    """The concrete experiment model for the plugins loaded in ``registry``
    (the loader loads those a document names; ``chaoskit schema`` loads all)."""
    target_union = _tagged_union(
        {name: plugin.obj for name, plugin in sorted(registry.targets.items())},
        "kind",
        "chaoskit.targets",
        registry,
    )
    fault_models = {
        name: create_model(
            f"Fault_{_ident(name)}",
            __base__=FaultSpec,
            injector=(Literal[name], ...),  # type: ignore[arg-type]
            params=(plugin.obj.params, _with_default(plugin.obj.params, "with")),
        )
        for name, plugin in sorted(registry.injectors.items())
    }
    fault_union = _tagged_union(fault_models, "injector", "chaoskit.injectors", registry)
    probe_models: dict[str, type[BaseModel]] = {}
    for kind, probe_plugin in sorted(registry.probes.items()):
        probe = probe_plugin.obj
        model = create_model(
            f"Probe_{_ident(kind)}",
            __base__=ProbeSpec,
            kind_params=(probe.params, Field(alias=kind)),
            expect=(probe.expect, _with_default(probe.expect, "expect")),
        )
        model.probe_kind = kind
        probe_models[kind] = model
    probe_union: Any = _keyed_union(probe_models, "chaoskit.probes", "probe", registry)
    task_models = _kind_models(registry.loads, TaskSpec, "Task", "load_kind")
    task_union: Any = _keyed_union(task_models, "chaoskit.load", "load", registry)
    lookup_models = _kind_models(registry.lookups, LookupSpec, "Lookup", "lookup_kind")
    lookup_union: Any = _keyed_union(lookup_models, "chaoskit.lookups", "lookup", registry)
    writes = create_model("WritesSpec", __base__=WritesSpec, lookup=(lookup_union, ...))
    load_kinds = set(registry.names("chaoskit.load"))
    load = create_model(
        "LoadSpec",
        __base__=LoadSpec,
        tasks=(list[task_union], Field(min_length=1)),
        writes=(writes | None, None),
    )
    load_list = Annotated[
        list[Annotated[load, BeforeValidator(lambda v: lift_kind_key(v, load_kinds))]],
        Field(default_factory=list),
    ]
    steady_state = create_model(
        "SteadyState",
        __base__=SteadyState,
        probes=(list[probe_union], Field(min_length=1)),
    )
    recovery = create_model(
        "Recovery",
        __base__=Recovery,
        probes=(list[probe_union], Field(default_factory=list)),
    )
    experiment: type[Experiment] = create_model(
        "Experiment",
        __base__=Experiment,
        targets=(dict[Name, target_union], Field(default_factory=dict)),  # type: ignore[valid-type]
        steady_state=(steady_state, ...),
        faults=(list[fault_union], Field(default_factory=list)),  # type: ignore[valid-type]
        load=(load_list, Field(default_factory=list)),
        recovery=(recovery, Field(default_factory=recovery)),
    )
    return experiment


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
