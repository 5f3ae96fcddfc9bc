"""Plain helpers shared by test modules: a free port, a tiny model, small training data, forge
pipelines, a fake plugin distribution and the ``largeforge`` command in a subprocess.

Fixtures live in the ``conftest.py`` files; test modules import helpers from here (or from a
folder's own helper module, such as ``router/router_testing.py``), never from each other."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

#: The README's quickstart pipeline (its data in ``data/`` beside it).
QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "pipeline.yaml"

#: Six short question/answer pairs: SFT rows, preference pairs, reward prompts.
QA = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is two plus two?", "Two plus two is four."),
    ("Name a primary colour.", "Red is a primary colour."),
    ("What do bees make?", "Bees make honey."),
    ("What is ice made of?", "Ice is frozen water."),
    ("How many legs does a spider have?", "A spider has eight legs."),
]
#: Four made-up facts, for a forge expert's SFT data and what an align stage trains on after it.
FACTS = [(f"What is fact {i}?", f"Fact {i} is true.") for i in range(4)]

#: A forge pipeline of one expert, ``helper``, trained on ``sft.json``; ``{stage}`` is its align stage.
ALIGN_PIPELINE = """\
name: aligned
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 1, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
experts:
  - name: helper
    data: sft.json
    keywords: [help]
    merge: false
    eval: {{enabled: false}}
    {stage}
router:
  classifier: {{classifier_type: keyword, fallback_expert: helper, keyword_weight: 1.0, neural_weight: 0.0}}
"""

#: A third party's plugin module registering the reward ``shouts`` (1.0 for an all-caps completion).
SHOUTS_PLUGIN = """
from largeforge import hookimpl
from largeforge.rewards import completion_text

@hookimpl
def register_rewards(register):
    def shouts(completions, **kwargs):
        return [float(completion_text(c).isupper()) for c in completions]

    register("shouts", shouts)
"""


#: A forge pipeline of one expert, ``alpha``, whose SFT stage takes ``{extra}`` (TRL fields) on line 8.
TRL_PIPELINE = """\
name: t
base_model: smollm2-135m-instruct
workdir: runs
experts:
  - name: alpha
    data: a.json
    keywords: [alpha]
    sft: {{max_steps: 1, max_length: 256, {extra}}}
    lora: {{r: 4, target_modules: all-linear}}
router:
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""


def free_port() -> int:
    """A port nobody listens on right now (bound to 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_tiny_model(target: Path, tokenizer_source: Path, *, layers: int = 2, hidden: int = 64) -> Path:
    """A randomly initialised Llama scaled down from SmolLM2's config, with its tokenizer."""
    import torch  # heavy: only the tests that build a model load it
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tokenizer_source)
    config.num_hidden_layers = layers
    config.hidden_size = hidden
    config.intermediate_size = hidden * 2
    config.num_attention_heads = 4
    config.num_key_value_heads = 2
    config.head_dim = hidden // 4
    config.max_position_embeddings = 2048
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(target)
    return target


def write_align_pipeline(tmp_path: Path, model: Path, stage: str) -> Path:
    """``sft.json`` (the :data:`FACTS` as Alpaca rows) and ``pipeline.yaml`` (:data:`ALIGN_PIPELINE`
    with ``stage``) in ``tmp_path``; returns the pipeline's path."""
    (tmp_path / "sft.json").write_text(json.dumps([{"instruction": q, "output": a} for q, a in FACTS]))
    path = tmp_path / "pipeline.yaml"
    path.write_text(ALIGN_PIPELINE.format(model=model, stage=stage))
    return path


def write_alpha_beta(tmp_path: Path) -> None:
    """Two experts' data in ``tmp_path``: ``alpha.json`` (Alpaca) and ``beta.jsonl`` (messages), six rows each."""
    rows = [{"instruction": f"Tell me fact {i} about alpha.", "output": f"Alpha fact {i}."} for i in range(6)]
    (tmp_path / "alpha.json").write_text(json.dumps(rows))
    beta = [
        {
            "messages": [
                {"role": "user", "content": f"beta question {i}"},
                {"role": "assistant", "content": f"beta answer {i}"},
            ]
        }
        for i in range(6)
    ]
    (tmp_path / "beta.jsonl").write_text("\n".join(json.dumps(row) for row in beta) + "\n")


def fake_distribution(root: Path, dist: str, version: str, ep_name: str, module: str, code: str) -> None:
    """Write a module and a .dist-info with a ``largeforge`` entry point onto a path entry."""
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[largeforge]\n{ep_name} = {module}\n")


def with_path_entry(path_entry: Path, **env: str) -> dict[str, str]:
    """This process's environment with ``path_entry`` first on PYTHONPATH (plus ``env``)."""
    paths = [str(path_entry), *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **env)


def run_largeforge(args: list[str], path_entry: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``largeforge ARGS`` in a subprocess with ``path_entry`` (a :func:`fake_distribution`'s root)
    first on PYTHONPATH."""
    return subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", *args],
        capture_output=True,
        text=True,
        env=with_path_entry(path_entry, **env),
        timeout=120,
    )


def quickstart_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The quickstart pipeline (``text`` in its place when given) and its data in ``tmp_path``."""
    shutil.copytree(QUICKSTART.parent / "data", tmp_path / "data")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(QUICKSTART.read_text() if text is None else text)
    return pipeline


def bf16_and_fp16_pipeline(tmp_path: Path) -> Path:
    """The quickstart with ``bf16: true`` and ``fp16: true`` in its SFT defaults: a cross-field error."""
    text = QUICKSTART.read_text().replace("    bf16: false\n", "    bf16: true\n    fp16: true\n")
    return quickstart_copy(tmp_path, text)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie has exited; nobody may reap it in a container


def assert_child_dies_with_parent(parent_code: str, args: list[str], how: signal.Signals, **env: str) -> None:
    """Run ``parent_code`` (it starts a child and prints the child's pid), signal only the parent
    with ``how`` and assert the child exits too (Linux: reads /proc)."""
    # Ctrl+C as a terminal delivers it: a SIGINT left ignored by whatever ran before in this test
    # process would be inherited, and Python then installs no KeyboardInterrupt handler.
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, **env),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    child = 0
    try:
        assert parent.stdout is not None and parent.stderr is not None
        line = parent.stdout.readline().strip()
        if not line.isdigit():
            parent.kill()
            raise AssertionError(f"the parent printed no child pid ({line!r}):\n{parent.stderr.read()}")
        child = int(line)
        assert not _gone(child)
        parent.send_signal(how)  # only the parent: as if its own run were stopped or killed
        parent.wait(60)
        deadline = time.monotonic() + 30
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(child), f"child {child} outlived its parent"
    finally:
        parent.kill()
        parent.communicate()
        if child and not _gone(child):  # the check failed: leave no orphan behind
            os.kill(child, signal.SIGKILL)


def write_trl_pipeline(tmp_path: Path, extra: str) -> Path:
    """``a.json`` (four Alpaca rows) and ``pipeline.yaml`` (:data:`TRL_PIPELINE` with ``extra``)."""
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(4)]))
    path = tmp_path / "pipeline.yaml"
    path.write_text(TRL_PIPELINE.format(extra=extra))
    return path
