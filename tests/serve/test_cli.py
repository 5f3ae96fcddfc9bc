"""``largeforge serve inference`` as a user runs it: a real subprocess, stopped with Ctrl+C."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from largeforge.cli.main import main
from largeforge_serve.launch import ServerProcess


def test_serve_inference_prints_url_answers_and_stops_on_ctrl_c(tiny_model_dir: Path) -> None:
    with ServerProcess(
        [
            "--model",
            str(tiny_model_dir),
            "--backend",
            "transformers",
            "--served-model-name",
            "tiny",
            "--api-key",
            "k1",
            "--max-concurrency",
            "2",
            "--threads",
            "1",
        ]
    ) as proc:
        assert proc.url.startswith("http://127.0.0.1:")
        health = httpx.get(proc.url.removesuffix("/v1") + "/health")
        assert health.json()["status"] == "healthy"
        client = openai.OpenAI(base_url=proc.url, api_key="k1", max_retries=0)
        reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
        assert reply.usage is not None and reply.usage.completion_tokens > 0
        code = proc.stop()
    assert code == 0, proc.output
    assert "server stopped" in proc.output
    assert "k1" not in proc.output.replace(proc.url, "")  # the API key is never printed


def test_bad_adapter_option_is_one_line_error(tiny_model_dir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["serve", "inference", "--model", str(tiny_model_dir), "--adapter", "no-equals-sign"])
    assert code == 1
    err = capsys.readouterr().err
    assert "expected NAME=PATH" in err
    assert len(err.strip().splitlines()) == 1


def test_help_lists_spec_options(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["serve", "inference", "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--model",
        "--port",
        "--host",
        "--backend",
        "--max-model-len",
        "--gpu-memory",
        "--tensor-parallel",
        "--api-key",
        "--adapter",
        "--max-concurrency",
    ):
        assert option in out


def test_config_file_values_are_validated(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "serve.yaml"
    config.write_text("backend: transformers\nmax_model_len: 5\n")
    code = main(["serve", "inference", "--model", str(tiny_model_dir), "--config", str(config)])
    assert code == 1
    err = capsys.readouterr().err
    assert "max_model_len" in err and "128" in err
