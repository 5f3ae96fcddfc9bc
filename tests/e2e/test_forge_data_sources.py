"""``largeforge forge`` on the data people have: experts whose data is Parquet, CSV, a
``save_to_disk`` folder, a LLaMA-Factory ``dataset_info.json`` entry (renamed columns included) or a
file read through ``columns:``, with the pipeline's ``chat_template``. Every real sample in every
file kind plans (each row validated, the same rows), and a pipeline of them trains on exactly
those rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge.data import load_conversations
from largeforge.forge import load_pipeline, plan_pipeline
from largeforge.forge.stages import stage_source
from tests.data_sources import SAMPLES, available, kinds_of, sample_rows, write_as

pytestmark = pytest.mark.e2e

HEAD = """\
name: sources
base_model: {model}
workdir: runs
dataset_info: data/dataset_info.json
chat_template: template.jinja
defaults:
  sft: {{max_steps: 2, per_device_train_batch_size: 1, gradient_accumulation_steps: 1, max_seq_length: 128,
         logging_steps: 1, bf16: false}}
  align: {{max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1, max_length: 128,
          logging_steps: 1, bf16: false}}
  dpo: {{max_prompt_length: 64}}
  lora: {{r: 2, lora_alpha: 4, target_modules: all-linear}}
  eval: {{enabled: false}}
router:
  classifier: {{classifier_type: keyword, fallback_expert: {fallback}, keyword_weight: 1.0, neural_weight: 0.0}}
experts:
"""
EXPERT = """\
  - name: {name}
    data: {data}
    keywords: [{name}]
    merge: false
{extra}"""
# SmolLM2's template without its default system prompt: the pipeline's own, for every training stage
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def sources(root: Path, shared: Path) -> dict[tuple[str, str], str]:
    """Every sample as every file kind this environment writes, and a registry listing the JSON ones
    (one with renamed columns), under ``root/data``; paths relative to ``root``."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    written = {}
    for sample in SAMPLES:
        rows = sample_rows(shared, sample)
        for kind in kinds_of(sample):
            if available(kind):
                written[sample, kind] = write_as(rows, kind, data / f"{sample}-{kind}").relative_to(root).as_posix()
    rows = sample_rows(shared, "alpaca_en_demo")[:30]
    (data / "qa.json").write_text(
        json.dumps([{"question": r["instruction"], "context": r["input"], "answer": r["output"]} for r in rows])
    )
    (data / "dataset_info.json").write_text(
        json.dumps(
            {
                "qa": {
                    "file_name": "qa.json",
                    "columns": {"prompt": "question", "query": "context", "response": "answer"},
                },
                "glaive_toolcall_en_demo": {
                    "file_name": "glaive_toolcall_en_demo-json.json",
                    "formatting": "sharegpt",
                    "columns": {"messages": "conversations", "tools": "tools"},
                },
            }
        )
    )
    (root / "template.jinja").write_text(TEMPLATE)
    return written


def align(method: str, data: str) -> str:
    return f"    align: {{method: {method}, data: {data}}}\n"


def test_every_sample_in_every_file_kind_plans_with_its_rows(tmp_path, shared_data, tiny_model_dir):
    written = sources(tmp_path, shared_data)
    experts, expected = [], {}
    for (sample, kind), path in written.items():
        name = f"{sample.split('_')[0]}-{kind}".replace("_", "-")
        method = SAMPLES[sample][1]
        if method == "sft":
            experts.append(EXPERT.format(name=name, data=path, extra=""))
        else:  # preference and KTO data: the align stage of an expert trained on identity.json
            experts.append(EXPERT.format(name=name, data=written["identity", "json"], extra=align(method, path)))
        expected[name] = len(sample_rows(shared_data, sample))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(HEAD.format(model=tiny_model_dir, fallback=next(iter(expected))) + "".join(experts))
    plan = plan_pipeline(load_pipeline(pipeline))
    assert len(plan.experts) == len(written)
    for expert in plan.experts:
        stage = expert.stages[-1]  # the align stage where there is one
        assert len(load_conversations(stage_source(stage))) == expected[expert.spec.name], expert.spec.name
        assert stage.config["chat_template"] == TEMPLATE


def test_a_pipeline_trains_every_sample_from_every_file_kind_and_registries(
    tmp_path, shared_data, tiny_model_dir, capsys
):
    """Every sample in every file kind trains in one pipeline, on exactly its rows: the SFT samples
    as experts' SFT data, the preference and KTO samples as align stages after them."""
    if not available("save_to_disk") or not available("parquet"):
        pytest.skip("needs pyarrow and datasets")
    written = sources(tmp_path, shared_data)
    after = {"alpaca_en_demo": "dpo_en_demo", "identity": "kto_en_demo"}  # which align data follows which SFT
    experts, expected = [], {}
    for (sample, kind), path in written.items():
        if SAMPLES[sample][1] != "sft":
            continue
        name = f"{sample.split('_')[0]}-{kind}".replace("_", "-")
        expected[name, "sft"] = len(sample_rows(shared_data, sample))
        extra = "    sft: {max_seq_length: 1024}\n" if sample == "glaive_toolcall_en_demo" else ""
        aligned = after.get(sample)
        if aligned and (aligned, kind) in written:
            method = SAMPLES[aligned][1]
            extra += align(method, written[aligned, kind])
            expected[name, method] = len(sample_rows(shared_data, aligned))
        experts.append(EXPERT.format(name=name, data=path, extra=extra))
    experts += [
        EXPERT.format(name="qa", data="qa", extra=""),  # a registry entry with renamed columns
        EXPERT.format(name="tools", data="glaive_toolcall_en_demo", extra="    sft: {max_seq_length: 1024}\n"),
        EXPERT.format(
            name="chat",
            data="data/qa.json",
            extra="    columns: {instruction: question, input: context, output: answer}\n",
        ),
    ]
    expected |= {("qa", "sft"): 30, ("chat", "sft"): 30, ("tools", "sft"): 300}
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(HEAD.format(model=tiny_model_dir, fallback="qa") + "".join(experts))
    assert main(["forge", str(pipeline)]) == 0, capsys.readouterr().err
    runs = tmp_path / "runs" / "experts"
    assert len(expected) == len(written) + 3  # every sample in every kind, and the three registry/column experts
    for (expert, stage), rows in expected.items():
        record = json.loads((runs / expert / stage / "forge-stage.json").read_text())
        assert (record["metrics"]["rows"], record["metrics"]["steps"]) == (rows, 2), (expert, stage)
        assert (runs / expert / stage / "chat_template.jinja").read_text() == TEMPLATE
