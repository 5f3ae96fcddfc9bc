"""Training from every kind of data file: each real sample, written by other tools as JSON, JSON
Lines, Parquet, Arrow, CSV (flat samples) and a ``save_to_disk`` folder, trains two steps on the
tiny model through the CLI from each of them, on exactly its rows; a LLaMA-Factory registry with
renamed columns trains; the glaive sample's tool definitions are in the text the model is trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from tests.data_sources import KINDS, SAMPLES, available, kinds_of, sample_rows, write_as

FAST = [
    "--max-steps",
    "2",
    "--gradient-accumulation",
    "1",
    "--logging-steps",
    "1",
    "--lora-r",
    "2",
    "--lora-target-modules",
    "all-linear",
]
#: Rows a step: the steps cost more than reading the rows (SmolLM2's 49k vocabulary), so one, but
#: KTO needs two (its KL term is estimated from the other rows of a batch).
BATCH = {"kto": "2"}


def fast(method: str) -> list[str]:
    """The flags of a two-step run of ``method``."""
    return [*FAST, "--batch-size", BATCH.get(method, "1")]


#: tokens per example: the glaive rows carry their tool definitions in every prompt
MAX_LENGTH = {"glaive_toolcall_en_demo": "1024"}
#: Every sample from every kind of file it can be written as.
CASES = [(sample, kind) for sample in SAMPLES for kind in kinds_of(sample)]


def test_the_cases_train_every_sample_from_every_kind_of_file() -> None:
    assert {kind for _, kind in CASES} == set(KINDS)
    assert len(CASES) == len(SAMPLES) * len(KINDS) - sum(not flat for _, _, flat in SAMPLES.values())


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[tuple[str, str], Path]:
    """Each sample as each kind of file, written once for the module."""
    folder = tmp_path_factory.mktemp("kinds")
    return {(s, k): write_as(sample_rows(shared_data, s), k, folder / s) for s, k in CASES if available(k)}


@pytest.mark.parametrize(("sample", "kind"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_each_sample_trains_from_each_file_kind(tiny_model_dir, written, shared_data, tmp_path, capsys, sample, kind):
    if (sample, kind) not in written:
        pytest.skip(f"writing {kind} needs a library this environment lacks")
    method = SAMPLES[sample][1]
    out = tmp_path / "run"
    code = main(
        [
            "train",
            method,
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(written[sample, kind]),
            "--output",
            str(out),
            *fast(method),
            "--max-length",
            MAX_LENGTH.get(sample, "128"),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["rows"] == len(sample_rows(shared_data, sample))  # every row, none more
    assert summary["global_step"] == 2 and summary["method"] == method


def test_a_llamafactory_registry_with_renamed_columns_trains(tiny_model_dir, shared_data, tmp_path, capsys):
    rows = sample_rows(shared_data, "alpaca_en_demo")[:24]
    (tmp_path / "qa.json").write_text(
        json.dumps([{"question": r["instruction"], "context": r["input"], "answer": r["output"]} for r in rows])
    )
    registry = tmp_path / "dataset_info.json"
    registry.write_text(
        json.dumps(
            {
                "qa": {
                    "file_name": "qa.json",
                    "columns": {"prompt": "question", "query": "context", "response": "answer"},
                }
            }
        )
    )
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "sft",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            "qa",
            "--dataset-info",
            str(registry),
            "--output",
            str(out),
            *fast("sft"),
            "--max-length",
            "128",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "largeforge_training.json").read_text())["rows"] == 24
    config = tmp_path / "sft.yaml"  # the same from a --config file, its registry path relative to it
    config.write_text(f"dataset: qa\ndataset_info: dataset_info.json\nmodel: {tiny_model_dir}\n")
    assert (
        main(
            [
                "train",
                "sft",
                "--config",
                str(config),
                "--output",
                str(tmp_path / "again"),
                *fast("sft"),
                "--max-length",
                "128",
            ]
        )
        == 0
    )


def _training_texts(trainer) -> list[str]:  # type: ignore[no-untyped-def]
    return [trainer.tokenizer.decode(row["input_ids"]) for row in trainer.trainer.train_dataset]


def test_the_glaive_tool_definitions_reach_the_training_text(tiny_model_dir, shared_data, tmp_path):
    from largeforge.config import SFTConfig
    from largeforge.data import DatasetFactory
    from largeforge_train.sft import SFTTrainer

    source = shared_data / "glaive_toolcall_en_demo.json"
    rows = sample_rows(shared_data, "glaive_toolcall_en_demo")
    dataset = DatasetFactory.load(source)
    config = SFTConfig.from_dict(
        {
            "output_dir": str(tmp_path / "run"),
            "max_steps": 1,
            "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 1,
            "max_seq_length": 2048,
            "bf16": False,
        }
    )
    trainer = SFTTrainer(str(tiny_model_dir), config, None)
    trainer.train(dataset)
    texts = _training_texts(trainer)
    # SmolLM2's template has no tools: the server's Hermes block carries them, in every row's system turn
    first_tool = json.loads(rows[0]["tools"])[0]
    assert f"<tools>\n{json.dumps(first_tool)}\n</tools>" in texts[0]
    defined = sum(1 for t in texts if "<tools>" in t and "</tools>" in t)
    with_tools = sum(
        len([m for m in r["conversations"] if m["from"] in ("gpt", "function_call")])
        for r in rows
        if json.loads(r["tools"])
    )
    assert defined == with_tools  # every reply of a row with tools is trained with them
    call = json.loads(next(m["value"] for m in rows[0]["conversations"] if m["from"] == "function_call"))
    assert f"<tool_call>\n{json.dumps(call)}\n</tool_call>" in texts[1]  # the call as the server parses it

    # A template that renders tools itself gets them through TRL's tools column instead.
    template = (
        "{% for t in tools or [] %}TOOL {{ t.name }}: {{ t.description }}\n{% endfor %}"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    config = SFTConfig.from_dict({**config.to_dict(), "output_dir": str(tmp_path / "native")})
    trainer = SFTTrainer(str(tiny_model_dir), config, None, chat_template=template)
    trainer.train(dataset)
    text = _training_texts(trainer)[0]
    assert text.startswith(f"TOOL {first_tool['name']}: {first_tool['description']}\n") and "<tools>" not in text


def test_the_global_config_train_section_is_honoured(tiny_model_dir, shared_data, tmp_path, capsys):
    config = tmp_path / "global.yaml"
    config.write_text(
        f"train:\n  model: {tiny_model_dir}\n  dataset: {shared_data / 'identity.json'}\n"
        "  learning_rate: 0.0123\n  columns: {instruction: instruction}\n"
    )
    code = main(["--config", str(config), "train", "sft", "--output", str(tmp_path / "o"), "--print-config"])
    out = capsys.readouterr().out
    assert code == 0 and "learning_rate: 0.0123" in out and "identity.json" in out
