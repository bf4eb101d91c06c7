"""The lifecycle shared by the cgroup limit injectors: move the target's
processes into a new cgroup named after the fault's tag, with a limit set;
revert moves them back where they were and removes the cgroup.

See ``_cgroup`` for where the new cgroup is placed in v1 and v2.
"""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    InjectorError,
    JsonValue,
    Params,
    RevertState,
)
from chaoskit_process import _cgroup as cg
from chaoskit_process._base import (
    TARGET_KIND,
    blocking,
    identify,
    select,
)
from chaoskit_process._select import Found

__all__ = ["CgroupGroup", "CgroupProcess", "CgroupState", "LimitInjector", "Setting"]


class Setting(BaseModel):
    """One file of the new cgroup and the value written to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    value: str
    optional: bool = False
    """written only where the kernel offers the file (swap accounting)"""


class CgroupGroup(BaseModel):
    """A cgroup the fault creates, and where its processes go back to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cgroup: str
    home: str


class CgroupProcess(BaseModel):
    """A target process and the cgroup it was in before the fault."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    create_time: float
    cmdline: list[str]
    cgroup: str
    """its cgroup in this controller's hierarchy before the fault"""
    moved_to: str
    """the cgroup of ``groups`` it goes into"""


class CgroupState(RevertState):
    """The revert state, as JSON (cgroup paths as /proc/PID/cgroup shows them)::

    {"version": 1, "controller": "memory", "mount": "/sys/fs/cgroup/memory", "root": "/",
     "settings": [{"file": "memory.limit_in_bytes", "value": "67108864", "optional": false}],
     "groups": [{"cgroup": "/app/chaoskit-RUN-FAULT", "home": "/app"}],
     "processes": [{"pid": 4242, "create_time": 1718000000.1, "cmdline": ["ledger"],
                    "cgroup": "/app", "moved_to": "/app/chaoskit-RUN-FAULT"}]}
    """

    version: cg.Version
    controller: str
    mount: str
    root: str
    settings: list[Setting]
    groups: list[CgroupGroup]
    processes: list[CgroupProcess]

    def hierarchy(self) -> cg.Hierarchy:
        return cg.Hierarchy(self.version, self.mount, self.root, self.controller)


def _hierarchy(controller: str) -> cg.Hierarchy:
    hierarchy = cg.find_hierarchy(controller)
    if hierarchy is None:
        raise InjectorError(
            f"no mounted cgroup hierarchy offers the {controller} controller "
            "(see /proc/self/mountinfo); this fault needs cgroup v1 or v2 with it"
        )
    return hierarchy


def _plan(
    controller: str, chosen: list[Found], name: str
) -> tuple[cg.Hierarchy, list[CgroupGroup], list[CgroupProcess]]:
    hierarchy = _hierarchy(controller)
    groups: dict[str, CgroupGroup] = {}
    processes = []
    for found in chosen:
        try:
            original = cg.cgroup_of(found.pid, hierarchy)
        except ProcessLookupError:
            continue
        new = cg.plan_cgroup(hierarchy.version, original, name)
        if new in groups and groups[new].home != original:
            # Two v2 siblings would share the new cgroup but go home to different
            # places: give each its own.
            new = cg.plan_cgroup(hierarchy.version, original, f"{name}.{len(groups)}")
        groups.setdefault(new, CgroupGroup(cgroup=new, home=original))
        processes.append(
            CgroupProcess(
                pid=found.pid,
                create_time=found.create_time,
                cmdline=found.cmdline,
                cgroup=original,
                moved_to=new,
            )
        )
    return hierarchy, list(groups.values()), processes


def _writable_problem(hierarchy: cg.Hierarchy, group: CgroupGroup, probe_file: str) -> str | None:
    parent = os.path.dirname(cg.fs_path(hierarchy, group.cgroup))
    if not os.path.isdir(parent):
        return f"cgroup directory {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return (
            f"cannot create a cgroup in {parent}: not writable (read-only cgroup mount, or "
            "not root); run chaoskit as root on a host that lets it manage cgroups"
        )
    if hierarchy.version == 1:
        if not os.path.exists(os.path.join(parent, probe_file)):
            return f"{parent} has no {probe_file}: the kernel does not offer this limit"
        return None
    try:
        delegated = cg.read_setting(parent, "cgroup.subtree_control").split()
    except OSError as exc:
        return f"cannot read {parent}/cgroup.subtree_control: {exc.strerror}"
    if hierarchy.controller not in delegated:
        return (
            f"the {hierarchy.controller} controller is not enabled for the children of {parent}; "
            f"enable it with: echo +{hierarchy.controller} > {parent}/cgroup.subtree_control"
        )
    return None


def _apply(state: CgroupState) -> list[int]:
    hierarchy = state.hierarchy()
    for group in state.groups:
        directory = cg.fs_path(hierarchy, group.cgroup)
        os.makedirs(directory, exist_ok=True)
        for setting in state.settings:
            if setting.optional and not os.path.exists(os.path.join(directory, setting.file)):
                continue
            try:
                cg.write_setting(directory, setting.file, setting.value)
            except OSError as exc:
                raise InjectorError(
                    f"cannot write {setting.value} to {directory}/{setting.file}: {exc.strerror}"
                ) from exc
    moved = []
    for record in state.processes:
        if identify(record.pid, record.create_time) is None:
            continue
        try:
            current = cg.cgroup_of(record.pid, hierarchy)
        except ProcessLookupError:
            continue
        if current not in (record.cgroup, record.moved_to):
            raise InjectorError(
                f"process {record.pid} moved from cgroup {record.cgroup} to {current} since "
                "prepare; not touching it"
            )
        if cg.move(record.pid, cg.fs_path(hierarchy, record.moved_to)):
            moved.append(record.pid)
    return moved


def _restore(state: CgroupState) -> tuple[list[int], list[str]]:
    """Move every process out of the fault's cgroups and remove them. Returns the
    pids moved and the cgroups that could not be removed."""
    hierarchy = state.hierarchy()
    originals = {(r.pid, r.create_time): r.cgroup for r in state.processes}
    moved, left = [], []
    for group in state.groups:
        directory = cg.fs_path(hierarchy, group.cgroup)
        if not os.path.isdir(directory):
            continue
        for pid in cg.procs(directory):
            destination = group.home
            for (recorded_pid, create_time), original in originals.items():
                if recorded_pid == pid and identify(pid, create_time) is not None:
                    destination = original
            target_dir = cg.fs_path(hierarchy, destination)
            if not os.path.isdir(target_dir):
                target_dir = cg.fs_path(hierarchy, group.home)
            if cg.move(pid, target_dir):
                moved.append(pid)
        try:
            cg.remove(directory)
        except OSError:
            left.append(directory)
    return moved, left


def _misplaced(state: CgroupState) -> list[str]:
    """Recorded processes still in a cgroup of the fault (for revert's check)."""
    hierarchy = state.hierarchy()
    ours = {group.cgroup for group in state.groups}
    problems = []
    for record in state.processes:
        if identify(record.pid, record.create_time) is None:
            continue
        try:
            current = cg.cgroup_of(record.pid, hierarchy)
        except ProcessLookupError:
            continue
        if current in ours:
            problems.append(f"process {record.pid} is still in {current}")
    return problems


def _not_in_force(state: CgroupState) -> list[str]:
    hierarchy = state.hierarchy()
    problems = []
    alive = 0
    for record in state.processes:
        if identify(record.pid, record.create_time) is None:
            continue
        try:
            current = cg.cgroup_of(record.pid, hierarchy)
        except ProcessLookupError:
            continue
        alive += 1
        if current != record.moved_to:
            problems.append(f"process {record.pid} is in {current}, not {record.moved_to}")
    if not alive:
        problems.append("none of the processes is alive")
    for group in state.groups:
        directory = cg.fs_path(hierarchy, group.cgroup)
        for setting in state.settings:
            path = os.path.join(directory, setting.file)
            if setting.optional and not os.path.exists(path):
                continue
            try:
                value = cg.read_setting(directory, setting.file)
            except OSError as exc:
                problems.append(f"cannot read {path}: {exc.strerror}")
                continue
            if value != setting.value:
                problems.append(f"{path} is {value}, not {setting.value}")
    return problems


class LimitInjector:
    """Subclasses set ``name``, ``params``, ``controller`` and implement ``settings``."""

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)
    controller: ClassVar[str]

    def settings(self, params: Params, version: cg.Version) -> list[Setting]:
        raise NotImplementedError

    async def _state(self, ctx: FaultContext) -> CgroupState:
        chosen = await select(ctx)
        hierarchy, groups, processes = await blocking(
            _plan, self.controller, chosen, cg.safe_name(ctx.tag), what="reading cgroups"
        )
        if not processes:
            raise InjectorError("the selected processes are gone")
        return CgroupState(
            version=hierarchy.version,
            controller=hierarchy.controller,
            mount=hierarchy.mount,
            root=hierarchy.root,
            settings=self.settings(ctx.params, hierarchy.version),
            groups=groups,
            processes=processes,
        )

    def footprint(self, ctx: FaultContext) -> Footprint:
        """For ``--dry-run``: what the params say, and the new cgroups."""
        return Footprint(
            changes=(
                (type(ctx.params).__doc__ or "").strip() + " Revert moves them back where they "
                "were.",
            ),
            creates=(
                f"a cgroup {cg.safe_name(ctx.tag)} ({self.controller} controller) beside each "
                "process's own: revert moves the processes back and removes it",
            ),
        )

    async def preflight(self, ctx: FaultContext) -> None:
        state = await self._state(ctx)
        hierarchy = state.hierarchy()
        probe_file = state.settings[0].file
        for group in state.groups:
            problem = await blocking(
                _writable_problem, hierarchy, group, probe_file, what="checking cgroups"
            )
            if problem:
                raise InjectorError(problem)

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        return (await self._state(ctx)).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = CgroupState.parse(revert_state)
        moved = await blocking(_apply, state, what="applying the cgroup limit", changes=True)
        if not moved:
            raise InjectorError(
                f"none of the selected processes {[r.pid for r in state.processes]} is "
                "running any more; no limit was applied"
            )
        ctx.log.info(
            "process.cgroup_limited",
            pids=moved,
            cgroups=[g.cgroup for g in state.groups],
            settings={s.file: s.value for s in state.settings},
        )
        return revert_state

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = CgroupState.parse(revert_state)
        moved, left = await blocking(
            _restore, state, what="moving processes back to their cgroups", changes=True
        )
        if moved:
            ctx.log.info("process.cgroup_restored", pids=moved)
        problems = await blocking(_misplaced, state, what="reading cgroups back")
        if left:
            problems.append(f"cgroups {left} could not be removed")
        if problems:
            raise InjectorError("; ".join(problems))

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = CgroupState.parse(revert_state)
        problems = await blocking(_not_in_force, state, what="reading the cgroup limit")
        if problems:
            raise FaultNotInForce("; ".join(problems))
