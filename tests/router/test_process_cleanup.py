"""A router that a test starts as a child process (``RouterProcess``) dies with the test run —
whether it is stopped by Ctrl+C (SIGINT) or killed outright (SIGKILL) — instead of being left
running, orphaned to PID 1."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import assert_child_dies_with_parent

PARENT = """
import sys, time
from largeforge_router.launch import RouterProcess
router = RouterProcess(sys.argv[1], timeout=120)
router.start()
print(router.proc.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_router_dies_with_its_parent(tmp_path: Path, how: signal.Signals) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "experts": [{"name": "general", "endpoints": ["http://127.0.0.1:9"]}],
                "classifier": {"classifier_type": "keyword", "fallback_expert": "general"},
                "server": {"health_check_interval": 0},
            }
        )
    )
    assert_child_dies_with_parent(PARENT, [str(config)], how)
