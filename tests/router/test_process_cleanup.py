"""Servers that tests start as child processes die with the test run —
whether it is stopped by Ctrl+C (SIGINT) or killed outright (SIGKILL) — instead of being left
running, orphaned to PID 1."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

PARENT = """
import sys, time
from largeforge_router.launch import RouterProcess
router = RouterProcess(sys.argv[1], timeout=120)
router.start()
print(router.proc.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie has exited; nobody may reap it in a container


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_child_server_dies_with_its_parent(tmp_path: Path, how: signal.Signals) -> None:
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
    # Ctrl+C as a terminal delivers it: a SIGINT left ignored by whatever ran before in this test
    # process would be inherited, and Python then installs no KeyboardInterrupt handler.
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(config)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.send_signal(how)  # only the parent: as if its own run were stopped or killed
        parent.wait(60)
        deadline = time.monotonic() + 30
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(child), f"child {child} outlived its parent"
    finally:
        parent.kill()
