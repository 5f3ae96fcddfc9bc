"""``largeforge train sft`` under ``accelerate launch --cpu --num_processes 2`` (DDP over gloo).

One rank is SIGKILLed after a checkpoint; ``--resume`` under 2 processes continues at the step
after the last complete checkpoint and finishes. The resulting 2-process loss curve (killed run up
to its checkpoint, resumed run after it) matches a 1-process run at the same global batch (2 per
rank × 2 = 4) within :data:`TOLERANCE` at every step: the ranks split the same shuffled order and
transformers averages the loss over the tokens of all ranks, so both take the same optimizer steps
up to float rounding; a resume that lost the data order, optimizer or RNG state would not match.

Launched with ``--multi_gpu`` (torchrun's launcher), which on a machine without CUDA starts two CPU
processes that LargeForge joins over gloo (``use_cpu``); accelerate 1.x's ``--cpu --num_processes 2``
starts a single process unless it is given an MPI hostfile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge_train.base import read_log

#: Largest difference allowed between the logged losses of the two runs at each step.
TOLERANCE = 1e-3
STEPS = 16
SAVE = 4
COMMON = [
    "--max-steps",
    str(STEPS),
    "--gradient-accumulation",
    "1",
    "--max-length",
    "128",
    "--logging-steps",
    "1",
    "--lora-r",
    "4",
    "--lora-alpha",
    "8",
    "--lora-dropout",
    "0",
    "--lora-target-modules",
    "all-linear",
    "--learning-rate",
    "5e-3",
    "--warmup-ratio",
    "0",
    "--seed",
    "7",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mp-data") / "sft.json"
    rows = [
        {"instruction": f"Question {i}: what is {i} plus {i}?", "output": f"{i} plus {i} is {2 * i}."}
        for i in range(40)
    ]
    path.write_text(json.dumps(rows))
    return path


def _launch(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",  # torchrun's launcher: 2 processes (--cpu starts one, see the module docstring)
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(29500 + os.getpid() % 1000),
        "-m",
        "largeforge.cli.main",
        "train",
        "sft",
        *args,
    ]
    # start_new_session: the launcher and both ranks form one group the test can always clean up
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _env() -> dict[str, str]:
    # One thread per rank: two ranks on two cores (and a loaded machine) stay in step.
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def _losses(out: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in read_log(out) if "loss" in row}


def _ranks(launcher: subprocess.Popen[str]) -> list[int]:
    """PIDs of the training processes: the launcher's descendants running largeforge (torch
    elastic starts each worker in its own session, so follow parent ids)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            commands[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == launcher.pid:
                return True
        return False

    return sorted(
        pid
        for pid, cmd in commands.items()
        if descends(pid) and "largeforge.cli.main" in cmd and "accelerate" not in cmd
    )


def test_two_processes_match_one_and_resume_after_a_rank_is_killed(tiny_model_dir, data, tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    model = ["--model", str(tiny_model_dir), "--dataset", str(data)]
    args = [*model, "--output", str(multi), "--batch-size", "2", *COMMON, "--save-steps", str(SAVE)]
    run = _launch(args, _env())
    try:  # SIGKILL one rank once a checkpoint is complete; torch elastic then stops the other
        deadline = time.monotonic() + 400
        while not (multi / f"checkpoint-{SAVE}" / "COMPLETE").is_file():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0][-3000:]
            time.sleep(0.05)
        ranks = _ranks(run)
        assert len(ranks) == 2 and run.poll() is None, ranks
        os.kill(ranks[1], signal.SIGKILL)
        run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            for pid in _ranks(run):
                os.kill(pid, signal.SIGKILL)
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode != 0
    done = [int(p.name.split("-")[1]) for p in multi.glob("checkpoint-*") if (p / "COMPLETE").is_file()]
    last = max(done)
    assert SAVE <= last < STEPS and not (multi / "largeforge_training.json").exists()

    resumed = _launch([*args, "--resume"], _env())
    # Meanwhile, the same run in one process at the same global batch (4 = 2 per rank x 2 ranks).
    assert (
        main(["train", "sft", *model, "--output", str(single), "--batch-size", "4", *COMMON, "--save-steps", "1000"])
        == 0
    )
    output, _ = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, output[-3000:]
    assert f"resuming from {multi / f'checkpoint-{last}'}" in " ".join(output.split())
    # The killed run's rows after its checkpoint were trimmed; the resumed run logged the rest, from last + 1.
    assert [row["step"] for row in read_log(multi) if "loss" in row] == list(range(1, STEPS + 1))
    assert json.loads((multi / "largeforge_training.json").read_text())["global_step"] == STEPS
    one, two = _losses(single), _losses(multi)
    worst = max(abs(one[s] - two[s]) for s in one)
    assert worst <= TOLERANCE, (worst, one, two)
    assert two[STEPS] < two[1] - 0.2  # and it learns


def test_accelerate_cpu_flag_starting_one_process_is_reported(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("from largeforge_train.base import warn_single_cpu_launch\nprint(warn_single_cpu_launch())\n")
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(script),
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "started one process" in proc.stdout and "--multi_gpu --num_processes 2" in proc.stdout
