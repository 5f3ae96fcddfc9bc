"""Issue 15 (done-when): schemathesis, every check, against the OpenAPI documents that a real
``largeforge serve`` (tiny model) and a real router in front of it serve: no server error, no
schema violation. Fixed seed, bounded examples, one worker (a 2-core machine). The same for the
gateway in front of llama.cpp (the tiny model as a GGUF), which checks requests against the same
document before llama.cpp sees them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).with_name("schemathesis.toml")


def schemathesis(url: str, cwd: Path) -> str:
    """Run ``st run`` on ``url``'s /openapi.json in ``cwd`` (it keeps a cache there); its
    output (the test fails on any issue)."""
    if shutil.which("st") is None:
        pytest.fail("schemathesis is not installed (tests/requirements.txt lists it)")
    proc = subprocess.run(
        [
            "st",
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--seed",
            "1",
            "--max-examples",
            "5",
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--max-response-time",
            "60",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "FAILURES" not in proc.stdout  # warnings (e.g. the admin API is off: 403) are not failures
    return proc.stdout


def cases(output: str) -> int:
    match = re.search(r"(\d+) generated, (\d+) passed", output)
    assert match and match.group(1) == match.group(2), output[-2000:]
    return int(match.group(1))


def test_schemathesis_finds_nothing_on_server_and_router(tiny_model_dir: Path, tmp_path: Path) -> None:
    from largeforge_router.launch import RouterProcess
    from largeforge_serve.launch import ServerProcess

    with ServerProcess(
        [
            "--model",
            str(tiny_model_dir),
            "--backend",
            "transformers",
            "--served-model-name",
            "general",
            "--threads",
            "1",
            "--max-concurrency",
            "4",
            "--max-model-len",
            "256",
        ],
        timeout=300,
    ) as server:
        base = server.url.removesuffix("/v1")
        served = cases(schemathesis(base, tmp_path))
        config = {
            "experts": [{"name": "general", "endpoints": [base], "max_tokens": 16}],
            "classifier": {"classifier_type": "keyword", "fallback_expert": "general"},
            "server": {"health_check_interval": 2, "health_check_timeout": 10},
        }
        path = tmp_path / "router.yaml"
        path.write_text(yaml.safe_dump(config))
        with RouterProcess(path) as router:
            routed = cases(schemathesis(router.url, tmp_path))
            assert httpx.get(f"{router.url}/health").json()["status"] == "ok"
    print(f"schemathesis: server {served} cases, router {routed} cases, no issues")


@pytest.mark.skipif(os.environ.get("LARGEFORGE_SKIP_LLAMACPP") == "1", reason="LARGEFORGE_SKIP_LLAMACPP=1")
def test_schemathesis_finds_nothing_on_the_llamacpp_gateway(tiny_model_dir: Path, tmp_path: Path) -> None:
    from largeforge_serve.engines.llamacpp import llamacpp_available
    from largeforge_serve.launch import ServerProcess

    if not llamacpp_available():
        pytest.skip("llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)")
    from largeforge_quant.gguf import convert_model

    gguf = convert_model(tiny_model_dir, tmp_path / "general.gguf", "f32")
    with ServerProcess(
        ["--model", str(gguf), "--threads", "1", "--max-concurrency", "4", "--max-model-len", "256"], timeout=300
    ) as server:
        served = cases(schemathesis(server.url.removesuffix("/v1"), tmp_path))
    print(f"schemathesis: llamacpp gateway {served} cases, no issues")
