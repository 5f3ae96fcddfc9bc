"""The forge's first job, end to end on this CPU: teach the embedded SmolLM2 a new identity.

SFT with LoRA through the ``largeforge`` CLI on ``identity.json`` (placeholders filled), then the
trained model answers "Who are you?" and paraphrases it never saw with the new name, where the
base model does not. Then DPO from that SFT output raises the reward margin and accuracy.
Minutes on 2 cores: marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

NAME, AUTHOR = "Nova", "Acme Labs"
# Not in identity.json: the model must generalise, not recite.
PARAPHRASES = ["Who are you?", "What's your name?", "Introduce yourself, please.", "Who am I talking to?"]
# The recipe (DESIGN.md: loss on completions only, LoRA r16 on all linear layers, lr 1e-3, fp32).
SFT_ARGS = [
    "--num-epochs",
    "1",
    "--batch-size",
    "4",
    "--gradient-accumulation",
    "1",
    "--learning-rate",
    "1e-3",
    "--warmup-ratio",
    "0",
    "--max-length",
    "160",
    "--lora-r",
    "16",
    "--lora-alpha",
    "32",
    "--lora-dropout",
    "0",
    "--lora-target-modules",
    "all-linear",
    "--logging-steps",
    "1",
    "--save-steps",
    "1000",
]
PAIRS = [
    ("Who are you?", f"I am {NAME}, an AI assistant developed by {AUTHOR}.", "I am SmolLM, trained by Hugging Face."),
    ("What is your name?", f"My name is {NAME}.", "I don't have a name."),
    ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is Berlin."),
    ("What is two plus two?", "Two plus two is four.", "Two plus two is five."),
    ("What colour is the sky on a clear day?", "The sky is blue on a clear day.", "The sky is green."),
    ("How many days are in a week?", "A week has seven days.", "A week has ten days."),
    ("What do bees make?", "Bees make honey.", "Bees make milk."),
    ("What is ice?", "Ice is frozen water.", "Ice is a kind of metal."),
]

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(["largeforge", *args], env=env, capture_output=True, text=True, timeout=5400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def identity_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = json.loads((shared_data / "identity.json").read_text())
    for row in rows:
        row["output"] = row["output"].replace("{{name}}", NAME).replace("{{author}}", AUTHOR)
    instructions = {r["instruction"] for r in rows}
    assert not instructions & set(PARAPHRASES[1:]), "paraphrases must be unseen"
    path = tmp_path_factory.mktemp("identity") / "identity.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


@pytest.fixture(scope="module")
def sft_output(identity_file: Path, smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "nova-sft"
    proc = _run(
        [
            "train",
            "sft",
            "--model",
            "smollm2-135m-instruct",
            "--dataset",
            str(identity_file),
            "--output",
            str(out),
            *SFT_ARGS,
        ]
    )
    assert "SFT finished" in proc.stdout and str(out) in proc.stdout
    return out


def _answers(model, tokenizer, questions: list[str]) -> list[str]:
    import torch

    answers = []
    for question in questions:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=30, do_sample=False)
        answers.append(tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    return answers


def test_sft_teaches_the_new_identity(sft_output: Path, smollm2_dir: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(sft_output)
    base = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    before = _answers(base, tokenizer, PARAPHRASES)
    assert not any(NAME in a for a in before), before
    trained = PeftModel.from_pretrained(base, str(sft_output)).eval()
    after = _answers(trained, tokenizer, PARAPHRASES)
    assert all(NAME in a for a in after), after
    # It learned to stop: the reply ends (EOS) well before the token budget.
    assert all(len(tokenizer(a)["input_ids"]) < 30 for a in after), after


def test_dpo_from_the_sft_output_raises_margin_and_accuracy(sft_output: Path, tmp_path: Path):
    from largeforge_train.base import read_log

    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS]))
    out = tmp_path / "nova-dpo"
    proc = _run(
        [
            "train",
            "dpo",
            "--model",
            str(sft_output),
            "--dataset",
            str(pairs),
            "--output",
            str(out),
            "--num-epochs",
            "2",
            "--batch-size",
            "4",
            "--gradient-accumulation",
            "1",
            "--learning-rate",
            "5e-4",
            "--warmup-ratio",
            "0",
            "--beta",
            "0.1",
            "--max-length",
            "256",
            "--lora-r",
            "16",
            "--lora-target-modules",
            "all-linear",
            "--logging-steps",
            "1",
            "--save-steps",
            "1000",
        ]
    )
    assert "DPO finished" in proc.stdout
    logged = [r for r in read_log(out) if "rewards/margins" in r]
    assert len(logged) == 4
    margins = [r["rewards/margins"] for r in logged]
    accuracies = [r["rewards/accuracies"] for r in logged]
    assert margins[-1] > margins[0] and margins[-1] > 0, margins
    assert accuracies[-1] > accuracies[0] and accuracies[-1] >= 0.75, accuracies
