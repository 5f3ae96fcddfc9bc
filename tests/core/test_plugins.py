"""Plugin manager and registries: provenance, duplicates, isolation, strict mode, listing."""

from __future__ import annotations

import json

import pytest

from largeforge import hookimpl
from largeforge.errors import PluginError, RegistryError
from largeforge.plugins import make_plugin_manager
from largeforge.registry import Registry
from tests.helpers import fake_distribution, run_largeforge


def test_registry_records_provider_and_rejects_duplicates():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1, "p1")
    assert reg.entry("a").provider == "p1" and reg.get("a") == 1
    with pytest.raises(PluginError, match="widget 'a' is registered by both 'p1' and 'p2'"):
        reg.add("a", 2, "p2")
    with pytest.raises(RegistryError, match=r"unknown widget 'b' \(registered: a\)"):
        reg.get("b")


def test_core_plugin_registers_builtin_formats_and_sources(pm):
    assert pm.registries.formats.names() == ["alpaca", "sharegpt", "dpo", "messages", "prompt_completion"]
    assert pm.registries.readers.names() == ["json", "parquet", "csv", "tsv", "arrow", "save_to_disk", "folder", "hub"]
    assert pm.registries.model_sources.names() == ["embedded", "local", "huggingface"]
    assert pm.registries.formats.entry("alpaca").provider == "core"


class Trainers:
    @hookimpl
    def register_trainers(self, register):
        register("fancy", object)


class Clashing:
    @hookimpl
    def register_formats(self, register):
        from largeforge.data.formats import AlpacaFormat

        register(AlpacaFormat())  # "alpaca" again: must be reported, not crash


class Broken:
    @hookimpl
    def register_quantizers(self, register):
        register("half", object)
        raise RuntimeError("boom")


def test_failing_registration_is_isolated(pm, capsys):
    pm.register(Trainers(), name="trainers-plugin")
    pm.register(Clashing(), name="clashing")
    pm.register(Broken(), name="broken")
    regs = pm.registries
    assert regs.trainers.entry("fancy").provider == "trainers-plugin"
    assert regs.formats.entry("alpaca").provider == "core"
    assert "half" not in regs.quantizers  # half-registration rolled back
    failed = {f.name: f for f in pm.failures}
    assert set(failed) == {"clashing", "broken"}
    assert "registered by both 'core' and 'clashing'" in failed["clashing"].error
    assert failed["broken"].error == "RuntimeError: boom"
    assert "plugin 'broken'" in capsys.readouterr().err


def test_strict_mode_makes_failures_fatal(monkeypatch):
    monkeypatch.setenv("LARGEFORGE_STRICT_PLUGINS", "1")
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Broken(), name="broken")
    with pytest.raises(PluginError, match="plugin 'broken' failed in register_quantizers"):
        _ = pm.registries


def test_hook_argument_typo_fails_at_registration(pm):
    class Typo:
        @hookimpl
        def register_formats(self, registr):  # wrong argument name
            pass

    with pytest.raises(Exception, match="registr"):
        pm.register(Typo(), name="typo")


# -- real entry points, through a subprocess ---------------------------------------------------


@pytest.fixture()
def site(tmp_path):
    fake_distribution(
        tmp_path,
        "lf-broken",
        "0.0.1",
        "broken",
        "lf_broken_plugin",
        "raise ImportError('missing dependency frobnicate')\n",
    )
    fake_distribution(
        tmp_path,
        "lf-extra",
        "1.2.3",
        "extra",
        "lf_extra_plugin",
        """
        from largeforge import hookimpl
        from largeforge.data.formats.alpaca import AlpacaFormat

        class Instr(AlpacaFormat):
            name = "instr"
            signature = frozenset()

        @hookimpl
        def register_formats(register):
            register(Instr())
        """,
    )
    return tmp_path


def test_broken_plugin_is_listed_as_failed_and_cli_keeps_working(site, shared_data):
    listing = run_largeforge(["plugins", "--json"], site)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["extra"]["distribution"] == "lf-extra" and plugins["extra"]["version"] == "1.2.3"
    assert plugins["extra"]["hooks"] == ["register_formats"]
    assert plugins["extra"]["provides"] == {"formats": ["instr"]}
    assert plugins["core"]["distribution"] == "largeforge-core"
    (failed,) = data["failed"]
    assert (failed["name"], failed["distribution"], failed["stage"]) == ("broken", "lf-broken", "import")
    assert "missing dependency frobnicate" in failed["error"]
    assert "plugin 'broken' (distribution lf-broken 0.0.1) failed in import" in listing.stderr
    # Every other command keeps working, including the good third-party format.
    ok = run_largeforge(["data", "validate", str(shared_data / "identity.json"), "--format", "instr"], site)
    assert ok.returncode == 0 and "format: instr" in ok.stdout


def test_strict_env_and_load_filter_through_entry_points(site):
    strict = run_largeforge(["plugins"], site, LARGEFORGE_STRICT_PLUGINS="1")
    assert strict.returncode == 1
    assert strict.stderr.strip().startswith("error: plugin 'broken'")
    assert "Traceback" not in strict.stderr
    only = run_largeforge(["plugins", "--json"], site, LARGEFORGE_LOAD_PLUGINS="extra")
    data = json.loads(only.stdout)
    assert {p["name"] for p in data["plugins"]} == {"core", "extra"} and data["failed"] == []
