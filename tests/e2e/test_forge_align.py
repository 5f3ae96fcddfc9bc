"""``largeforge forge`` with a post-SFT ``align:`` stage naming any registered trainer (here KTO):
planned with the method's config and data checks, run on a tiny model, skipped when unchanged;
``dpo:`` keeps working as ``align: {method: dpo}``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge.forge import PlanError, load_pipeline, plan_pipeline
from largeforge_train.base import read_log
from tests.helpers import FACTS, write_align_pipeline

pytestmark = pytest.mark.e2e

KTO = """align:
      method: kto
      data: kto.jsonl
      options: {max_steps: 3, per_device_train_batch_size: 4, gradient_accumulation_steps: 1,
                max_length: 128, logging_steps: 1, learning_rate: 0.005, beta: 0.2, bf16: false}"""


def write(tmp_path: Path, model: Path, stage: str = KTO) -> Path:
    qa = FACTS
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": reply}], "label": label}
        for q, a in qa
        for reply, label in ((a, True), ("No idea.", False))
    ]
    (tmp_path / "kto.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = [{"prompt": q, "chosen": a, "rejected": "No idea."} for q, a in qa]
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    return write_align_pipeline(tmp_path, model, stage)


def test_plan_has_the_align_stage_with_its_method_config(tmp_path, tiny_model_dir):
    plan = plan_pipeline(load_pipeline(write(tmp_path, tiny_model_dir)))
    assert [(s.kind, s.plugin) for s in plan.experts[0].stages] == [("sft", "sft"), ("align", "kto")]
    align = plan.experts[0].stages[1]
    assert align.output == tmp_path / "runs" / "experts" / "helper" / "kto"
    assert align.config["train"]["beta"] == 0.2 and align.config["train"]["loss_type"] == "kto"  # KTOConfig's
    assert align.upstream is plan.experts[0].stages[0] and plan.experts[0].is_adapter
    # the legacy spelling plans the same kind of stage
    legacy = "dpo: {data: pairs.json, options: {beta: 0.3}}"
    stages = plan_pipeline(load_pipeline(write(tmp_path, tiny_model_dir, legacy))).experts[0].stages
    assert [(s.kind, s.plugin, s.output.name) for s in stages] == [("sft", "sft", "sft"), ("align", "dpo", "dpo")]
    assert stages[1].config["train"]["max_prompt_length"] == 512  # DPOConfig's


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        # the method's own bounds, at the option's line
        (KTO.replace("beta: 0.2", "beta: -1"), r"pipeline.yaml:18: .*beta = -1 is invalid: expected float > 0"),
        # preference pairs given to kto: the row, what was expected and which method takes them
        (
            KTO.replace("kto.jsonl", "pairs.json"),
            r"pipeline.yaml:16: pairs.json: row 0: `method: kto` needs unpaired preference rows \(messages "
            r"with a boolean label\), but this is preference pairs \(prompt/chosen/rejected\): "
            r"use `method: dpo` \(or orpo, simpo, cpo\)",
        ),
        (
            KTO.replace("method: kto", "method: orpo"),
            r"kto.jsonl: row 0: `method: orpo` needs preference pairs .* use `method: kto`",
        ),
        (KTO.replace("method: kto", "method: rlhf"), r"pipeline.yaml:15: stage align: no trainer plugin named 'rlhf'"),
    ],
)
def test_bad_align_stage_fails_at_plan_time(tmp_path, tiny_model_dir, stage, message):
    with pytest.raises(PlanError, match=message):
        plan_pipeline(load_pipeline(write(tmp_path, tiny_model_dir, stage)))


def test_align_and_dpo_together_are_refused(tmp_path, tiny_model_dir, capsys):
    path = write(tmp_path, tiny_model_dir, KTO + "\n    dpo: {data: pairs.json}")
    assert main(["forge", str(path), "--dry-run"]) == 1
    assert "align and dpo are both set" in capsys.readouterr().err


def test_forge_runs_sft_then_kto_and_skips_it_unchanged(tmp_path, tiny_model_dir, capsys):
    path = write(tmp_path, tiny_model_dir)
    assert main(["forge", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"helper · align \(kto\) running", out), out
    kto = tmp_path / "runs" / "experts" / "helper" / "kto"
    assert (kto / "adapter_config.json").is_file()
    record = json.loads((kto / "forge-stage.json").read_text())
    assert record["kind"] == "align" and record["plugin"] == "kto" and record["metrics"]["steps"] == 3
    assert "rewards/margins" in record["metrics"]  # the method's signal reaches the stage record
    assert any("kl" in row for row in read_log(kto))
    figures = json.loads((tmp_path / "runs" / "report.json").read_text())
    assert set(figures["experts"]["helper"]["training"]) == {"sft", "kto"}
    assert main(["forge", str(path)]) == 0
    assert re.search(r"helper · align \(kto\) skipped", capsys.readouterr().out)
