"""The device and precision LargeForge chooses, for the GPUs it may meet (the GPU check relies on it).

No GPU here: each test states the CUDA facts (``torch.cuda.is_available`` and
``torch.cuda.is_bf16_supported``, the two questions the code asks) and runs the real decisions
on them: ``largeforge.utils.device`` and ``largeforge_train.base`` (``resolve_precision``, the
weights' dtype and the TrainingArguments fields that follow the device).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from largeforge.config import DPOConfig, SFTConfig
from largeforge.utils import device
from largeforge_train import precision
from largeforge_train.base import resolve_precision
from largeforge_train.sft import SFTTrainer

H100 = {"cuda": True, "bf16": True}  # Ampere and later: native bf16
T4 = {"cuda": True, "bf16": False}  # Turing / Volta: CUDA without bf16
CPU = {"cuda": False, "bf16": False}


@pytest.fixture()
def machine(monkeypatch: pytest.MonkeyPatch):
    """``machine(H100)`` makes torch answer as that machine; precision warnings start unseen."""
    monkeypatch.setattr(precision, "_WARNED", set())

    def use(facts: dict[str, bool]) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: facts["cuda"])
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: facts["bf16"])

    return use


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture()
def warnings():
    """The warnings logged under "largeforge" during the test, each once."""
    collect, logger = _Collect(), logging.getLogger("largeforge")
    logger.addHandler(collect)
    try:
        yield lambda: collect.messages
    finally:
        logger.removeHandler(collect)


@pytest.mark.parametrize(("facts", "bf16"), [(H100, True), (T4, False), (CPU, False)])
def test_native_bf16_only_where_cuda_has_it(machine, facts, bf16) -> None:
    machine(facts)
    assert device.is_bf16_supported() is bf16


def test_the_device_is_cuda_when_present(machine) -> None:
    machine(H100)
    assert device.get_device() == "cuda"
    assert device.select_device("auto") == torch.device("cuda")
    assert device.select_device("cuda:1") == torch.device("cuda:1")
    machine(CPU)
    assert device.get_device() == "cpu"
    assert device.select_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="'cuda:1' requested but CUDA is not available"):
        device.select_device("cuda:1")


def test_bf16_default_trains_in_bf16_on_a_bf16_gpu(machine, warnings) -> None:
    machine(H100)
    assert resolve_precision(SFTConfig(output_dir="o")) == (True, False)
    assert resolve_precision(DPOConfig(output_dir="o")) == (True, False)
    assert warnings() == []


@pytest.mark.parametrize("facts", [T4, CPU])
def test_bf16_default_falls_back_to_fp32_with_one_warning(machine, warnings, facts) -> None:
    machine(facts)
    assert resolve_precision(SFTConfig(output_dir="o")) == (False, False)
    assert resolve_precision(SFTConfig(output_dir="o")) == (False, False)
    assert warnings() == ["bf16 (the default) needs native bf16, which this device lacks: training in fp32"]


def test_fp16_is_kept_on_any_cuda_gpu_and_dropped_on_a_cpu(machine, warnings) -> None:
    config = SFTConfig(output_dir="o", bf16=False, fp16=True)
    for facts in (H100, T4):
        machine(facts)
        assert resolve_precision(config) == (False, True)
    assert warnings() == []
    machine(CPU)
    assert resolve_precision(config) == (False, False)
    assert warnings() == ["fp16 needs a CUDA device: training in fp32"]


def test_fp32_when_asked_anywhere(machine, warnings) -> None:
    for facts in (H100, T4, CPU):
        machine(facts)
        assert resolve_precision(SFTConfig(output_dir="o", bf16=False)) == (False, False)
    assert warnings() == []


@pytest.mark.parametrize(
    ("facts", "dtype", "bf16", "fp16", "pin"),
    [
        (H100, torch.bfloat16, True, False, True),
        (T4, torch.float32, False, False, True),
        (CPU, torch.float32, False, False, False),
    ],
)
def test_weights_and_training_arguments_follow_the_device(machine, tmp_path: Path, facts, dtype, bf16, fp16, pin):
    trainer = SFTTrainer("unused-model", SFTConfig(output_dir=str(tmp_path / "o")), progress=False)
    machine(facts)
    assert trainer.dtype == dtype  # the dtype the weights load in
    args = trainer.common_args(has_eval=False)
    assert (args["bf16"], args["fp16"]) == (bf16, fp16)
    assert args["dataloader_pin_memory"] is pin
    assert args["use_cpu"] is False  # one process: transformers picks the device itself


def test_fp16_weights_load_in_half_on_cuda(machine, tmp_path: Path) -> None:
    trainer = SFTTrainer("unused-model", SFTConfig(output_dir=str(tmp_path / "o"), bf16=False, fp16=True))
    machine(T4)
    assert trainer.dtype == torch.float16
    machine(CPU)
    assert trainer.dtype == torch.float32
