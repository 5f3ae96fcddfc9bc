"""A saved adapter names its base portably (the embedded model's hub id, not this machine's cache
path), and both LargeForge and plain PEFT resolve it offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from largeforge.cli.main import main

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def adapter(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data") / "sft.json"
    data.write_text(json.dumps([{"instruction": "Who are you?", "output": "I am Nova."}] * 2))
    out = tmp_path_factory.mktemp("runs") / "adapter"
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                "smollm2-135m-instruct",
                "--dataset",
                str(data),
                "--output",
                str(out),
                "--max-steps",
                "1",
                "--batch-size",
                "1",
                "--gradient-accumulation",
                "1",
                "--max-length",
                "128",
                "--lora-r",
                "2",
                "--save-steps",
                "100",
            ]
        )
        == 0
    )
    return out


def test_adapter_names_the_hub_id_and_largeforge_resolves_it_offline(adapter, smollm2_dir, tmp_path):
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == HUB_ID
    from largeforge.models import resolve_model

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert resolve_model(HUB_ID) == smollm2_dir  # no hub cache here: the embedded copy it trained on
    merged = tmp_path / "merged"
    assert main(["train", "merge", "--adapter", str(adapter), "--output", str(merged)]) == 0
    assert (merged / "model.safetensors").is_file()


def test_peft_loads_the_adapter_from_a_hugging_face_cache_offline(adapter, smollm2_dir, tmp_path):
    # Another machine: the hub's model in its Hugging Face cache (here: the same weights, laid out
    # as huggingface_hub caches a download), and plain PEFT, no LargeForge.
    snapshot = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for item in smollm2_dir.iterdir():
        if item.is_file() and not item.name.startswith("."):
            (snapshot / item.name).symlink_to(item)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    script = (
        "from peft import AutoPeftModelForCausalLM\n"
        f"model = AutoPeftModelForCausalLM.from_pretrained({str(adapter)!r})\n"
        "print(model.peft_config['default'].base_model_name_or_path, type(model.base_model.model).__name__)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [HUB_ID, "LlamaForCausalLM"]
