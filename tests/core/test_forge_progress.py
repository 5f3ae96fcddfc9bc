"""Forge's per-stage lines carry the run's elapsed time and an overall ETA
estimated from the stages already finished in this run."""

from __future__ import annotations

import time

from largeforge.forge.progress import ForgeProgress, clock


def test_eta_from_finished_stages_of_the_same_kind(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    progress = ForgeProgress(["sft", "sft", "eval", "route"])
    assert progress.eta() is None  # nothing finished yet: no estimate
    progress.begin()
    now[0] += 120
    assert progress.end("sft") == 120
    assert progress.eta() == (120, False)  # one sft left (2 min); eval and route not seen yet
    assert progress.summary() == "forge elapsed 0:02:00, 3 stage(s) left, eta ≥ 0:02:00"
    progress.begin()
    now[0] += 60
    progress.end("sft")
    progress.begin()
    now[0] += 10
    progress.end("eval")
    assert progress.eta() is None  # only route is left, and no route stage has finished yet
    progress.to_run = ["sft"]
    assert progress.eta() == (90, True)  # the mean of 120 s and 60 s
    assert clock(3725) == "1:02:05"
