"""Plugin discovery: real entry points of installed distributions, and broken
plugins reported with their distribution instead of being swallowed."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from chaoskit import PluginError
from chaoskit._registry import check_plugin, discover
from chaoskit.cli import main


class NotAnInjector:
    name = "bad.one"


def test_test_plugin_is_discovered_through_its_entry_points() -> None:
    registry = discover()
    registry.load_all()
    plugin = registry.injectors["fake.flag"]
    assert plugin.distribution == "chaoskit-testplugin"
    assert registry.targets["fake.dir"].distribution == "chaoskit-testplugin"
    assert registry.probes["http"].distribution == "chaoskit"


def test_plugins_command_lists_name_distribution_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "fake.flag" in out
    assert "chaoskit-testplugin 0.0.1" in out
    assert "toxiproxy.latency" in out


def test_a_plugin_that_fails_to_import_is_reported_with_its_name() -> None:
    broken = EntryPoint("broken.import", "no_such_module_xyz:Thing", "chaoskit.injectors")
    registry = discover([(broken, "chaoskit.injectors")])
    with pytest.raises(PluginError, match=r"broken\.import.*import of no_such_module_xyz"):
        registry.injector("broken.import")
    [report] = registry.broken
    assert "ModuleNotFoundError" in report.reason


def test_a_plugin_that_breaks_the_protocol_says_what_is_missing() -> None:
    problems = check_plugin("bad.one", "chaoskit.injectors", NotAnInjector)
    text = "; ".join(problems)
    assert "params must be a subclass of chaoskit.Params" in text
    assert "missing async method inject(self, ctx, revert_state)" in text
    assert "target_kinds" in text


def test_entry_point_name_must_match_the_plugin_name() -> None:
    problems = check_plugin("other.name", "chaoskit.injectors", NotAnInjector)
    assert any("entry point says 'other.name'" in p for p in problems)


def test_unknown_name_lists_the_installed_ones() -> None:
    registry = discover()
    with pytest.raises(PluginError, match=r"unknown injector 'nope'; installed: .*fake\.flag"):
        registry.injector("nope")


def test_an_experiment_naming_a_broken_probe_says_why() -> None:
    from chaoskit import ExperimentInvalid
    from chaoskit._loader import parse_experiment

    broken = EntryPoint("wobbly", "no_such_module_xyz:Probe", "chaoskit.probes")
    registry = discover([(broken, "chaoskit.probes")])
    text = "version: 1\ntitle: t\nsteady_state:\n  probes:\n    - {name: p, wobbly: {}}\n"
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(text, "x.yaml", registry)
    [problem] = caught.value.problems
    assert problem.startswith("x.yaml:5:7: steady_state.probes[0]: probe kind 'wobbly'")
    assert "is broken: import of no_such_module_xyz:Probe failed" in problem


class NeedsArguments:
    name = "needs.args"
    params = NotAnInjector

    def __init__(self, host: str) -> None:
        self.host = host


def test_a_plugin_whose_constructor_fails_is_broken_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chaoskit._registry as registry_module

    monkeypatch.setattr(registry_module, "check_plugin", lambda *_: [])
    entry = EntryPoint("needs.args", f"{__name__}:NeedsArguments", "chaoskit.injectors")
    registry = discover([(entry, "chaoskit.injectors")])
    with pytest.raises(PluginError, match=r"NeedsArguments\(\) failed: TypeError"):
        registry.injector("needs.args")


def test_two_distributions_claiming_one_name_are_both_refused() -> None:
    from importlib.metadata import distribution

    twin = EntryPoint("fake.flag", "chaoskit_testplugin:FakeFlag", "chaoskit.injectors")
    twin = twin._for(distribution("chaoskit"))  # as if another distribution shipped it
    registry = discover([(twin, "chaoskit.injectors")])
    with pytest.raises(PluginError, match="also registered by distribution chaoskit-testplugin"):
        registry.injector("fake.flag")
