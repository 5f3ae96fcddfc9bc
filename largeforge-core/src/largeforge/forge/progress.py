"""How far a forge run is: elapsed time and an estimate of what is left, from the stages this
run has finished (a stage still to run is estimated by the mean time of the finished stages of
its kind; a kind not seen yet is not estimated, so the figure is then a lower bound)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field


def clock(seconds: float) -> str:
    """``H:MM:SS``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class ForgeProgress:
    """Stage timings of one forge run; ``to_run`` lists the kinds of the stages still to run."""

    to_run: list[str]
    started: float = field(default_factory=lambda: time.monotonic())
    _stage_started: float = 0.0
    _done: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def begin(self) -> None:
        """A stage starts."""
        self._stage_started = time.monotonic()

    def end(self, kind: str) -> float:
        """A stage of ``kind`` finished; returns how long it took."""
        took = time.monotonic() - self._stage_started
        self._done[kind].append(took)
        if kind in self.to_run:
            self.to_run.remove(kind)
        return took

    def eta(self) -> tuple[float, bool] | None:
        """(seconds left, whether every remaining stage was estimated), or None if none could be."""
        known = [kind for kind in self.to_run if self._done.get(kind)]
        if not known and self.to_run:
            return None
        left = sum(sum(self._done[k]) / len(self._done[k]) for k in known)
        return left, len(known) == len(self.to_run)

    def summary(self) -> str:
        """``elapsed H:MM:SS, N stages left, eta (≥) H:MM:SS`` for the forge progress lines."""
        text = f"forge elapsed {clock(time.monotonic() - self.started)}, {len(self.to_run)} stage(s) left"
        eta = self.eta()
        if eta is not None and self.to_run:
            text += f", eta {'' if eta[1] else '≥ '}{clock(eta[0])}"
        return text
