"""``largeforge forge`` planning: every bad pipeline fails before any training, naming the line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from largeforge.cli.main import main
from largeforge.errors import ConfigError
from largeforge.forge import PlanError, load_pipeline, plan_pipeline
from tests.helpers import quickstart_copy, write_trl_pipeline

PIPELINE = """\
name: t
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 1, per_device_train_batch_size: 2, max_seq_length: 128}}
experts:
  - name: alpha
    data: a.json
    keywords: [alpha]
  - name: beta
    data: b.json
    sft:
      learning_rate: {lr}
    quantize:
      method: {quant}
router:
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""


def write(tmp_path: Path, lr: str = "1e-4", quant: str = "gptq", model: str = "smollm2-135m-instruct") -> Path:
    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(4)]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "b.json").write_text(json.dumps(rows[:2]))
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(lr=lr, quant=quant, model=model))
    return path


def test_plan_orders_stages_and_keys(tmp_path):
    plan = plan_pipeline(load_pipeline(write(tmp_path)))
    assert [(s.expert, s.kind) for s in plan.stages] == [
        ("alpha", "sft"),
        ("alpha", "merge"),
        ("alpha", "eval"),
        ("beta", "sft"),
        ("beta", "merge"),
        ("beta", "quantize"),
        ("beta", "eval"),
        ("router", "route"),
    ]
    assert plan.experts[1].artifact == tmp_path / "runs" / "experts" / "beta" / "quantized" / "model"
    keys = {(s.expert, s.kind): s.key for s in plan.stages}
    # Editing beta's data changes beta's keys only.
    (tmp_path / "b.json").write_text(json.dumps([{"instruction": "new", "output": "data"}]))
    again = {(s.expert, s.kind): s.key for s in plan_pipeline(load_pipeline(tmp_path / "pipeline.yaml")).stages}
    assert {k for k in keys if keys[k] != again[k]} == {
        ("beta", "sft"),
        ("beta", "merge"),
        ("beta", "quantize"),
        ("beta", "eval"),
        ("router", "route"),
    }


def test_bad_value_names_line_and_field(tmp_path):
    with pytest.raises(PlanError) as info:
        plan_pipeline(load_pipeline(write(tmp_path, lr="-1")))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'pipeline.yaml'}:13: ")
    assert "learning_rate = -1 is invalid: expected float > 0.0" in message


def test_structural_error_names_line(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("keywords: [alpha]", "keywords: alpha-only"))
    with pytest.raises(ConfigError, match=r"pipeline.yaml:9: experts\[0\].keywords = 'alpha-only' is invalid"):
        load_pipeline(path)


def test_missing_data_file_names_line(tmp_path):
    path = write(tmp_path)
    (tmp_path / "b.json").unlink()
    with pytest.raises(PlanError, match=r"pipeline.yaml:11: data file 'b.json' not found"):
        plan_pipeline(load_pipeline(path))


def test_invalid_rows_fail_the_plan(tmp_path):
    path = write(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": "", "output": "x"}]))
    with pytest.raises(PlanError, match=r"a.json: 1 of 1 rows are invalid \(row 0: instruction is empty\)"):
        plan_pipeline(load_pipeline(path))


def test_unknown_plugin_names_line_and_registered(tmp_path):
    with pytest.raises(
        PlanError,
        match=r"pipeline.yaml:14: stage quantize \(exl2\): no quantizer plugin named "
        r"'exl2' is installed \(registered: .*gptq",
    ):
        plan_pipeline(load_pipeline(write(tmp_path, quant="exl2")))


def test_uninstalled_distribution_is_named(tmp_path, pm):
    """With only the core plugin loaded, the sft stage says which distribution to install."""
    with pytest.raises(
        PlanError,
        match=r"stage sft needs the largeforge-train distribution, which is not "
        r'installed: pip install "largeforge-core\[train\]"',
    ):
        plan_pipeline(load_pipeline(write(tmp_path)))


def test_dry_run_prints_plan(tmp_path, capsys):
    assert main(["forge", str(write(tmp_path)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "forge plan: t" in out and out.count("to run") == 8


def test_the_quickstart_dry_run_accepts_its_embedded_base_model(tmp_path, capsys):
    assert main(["forge", str(quickstart_copy(tmp_path)), "--dry-run"]) == 0
    assert "forge plan: quickstart" in capsys.readouterr().out


def test_print_config_shows_each_stage_with_its_trl_fields(tmp_path, capsys):
    pipeline = write_trl_pipeline(tmp_path, "optim: sgd, neftune_noise_alpha: 5")
    assert main(["forge", str(pipeline), "--print-config"]) == 0
    stages = yaml.safe_load(capsys.readouterr().out)
    sft = stages["alpha.sft"]
    assert (sft["train"]["optim"], sft["train"]["neftune_noise_alpha"], sft["train"]["max_seq_length"]) == (
        "sgd",
        5,
        256,
    )
    assert sft["lora"]["target_modules"] == "all-linear" and sft["train"]["num_train_epochs"] == 3
    assert not (tmp_path / "runs" / "experts").exists()


def test_adapters_mode_requires_adapters(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text() + "serve: {mode: adapters}\n")
    with pytest.raises(PlanError, match=r"serve\.mode 'adapters' needs expert 'alpha' to keep its LoRA adapter"):
        plan_pipeline(load_pipeline(path))


def test_duplicate_experts_and_unknown_fallback(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("name: beta", "name: alpha"))
    with pytest.raises(ConfigError, match="expert names must be unique: alpha repeated"):
        load_pipeline(path)
    path = write(tmp_path)
    path.write_text(path.read_text().replace("fallback_expert: alpha", "fallback_expert: nobody"))
    with pytest.raises(ConfigError, match="fallback_expert 'nobody' is not an expert"):
        load_pipeline(path)


@pytest.mark.parametrize("example", sorted((Path(__file__).parents[2] / "examples").glob("**/pipeline.yaml")))
def test_shipped_pipelines_plan(example):
    assert plan_pipeline(load_pipeline(example)).stages


def test_toml_pipeline_without_lines(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        textwrap.dedent("""
        name = "x"
        [[experts]]
        name = "only"
        data = "missing.json"
    """)
    )
    with pytest.raises(PlanError, match=rf"{path}: data file 'missing.json' not found"):
        plan_pipeline(load_pipeline(path))


def test_spec_public_names_resolve_to_the_siblings():
    """``from largeforge import SFTTrainer`` etc. (spec 1.1) reach the installed distributions."""
    import largeforge

    for name in ("SFTTrainer", "DPOTrainer", "TransformersEngine", "Router", "quantize", "InferenceEngine"):
        assert getattr(largeforge, name).__name__ == name
