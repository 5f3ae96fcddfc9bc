"""The seeded held-out split of an expert's data, and its rows as evaluation examples.

The split is a function of the rows, ``val_size`` and ``seed`` only, so training (which skips the
held-out rows) and evaluation (which scores only them) agree without sharing state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from largeforge.contracts import EvalExample
from largeforge.data.conversation import Conversation


@dataclass
class Split:
    """Training rows and held-out rows of one data file."""

    train: list[Conversation]
    heldout: list[Conversation]


def heldout_count(rows: int, val_size: float) -> int:
    """How many of ``rows`` to hold out: an int ``val_size`` is a count, a float below 1 a fraction
    (at least one row when positive); at least one row is always left to train on."""
    if rows < 2 or val_size <= 0:
        return 0
    wanted = int(val_size) if isinstance(val_size, int) else max(1, round(rows * val_size))
    return min(wanted, rows - 1)


def split_conversations(conversations: list[Conversation], val_size: float, seed: int) -> Split:
    """Hold out ``val_size`` of ``conversations`` chosen by a ``seed``-ed shuffle; order is kept."""
    indices = list(range(len(conversations)))
    random.Random(seed).shuffle(indices)
    held = set(indices[: heldout_count(len(conversations), val_size)])
    return Split(
        train=[c for i, c in enumerate(conversations) if i not in held],
        heldout=[c for i, c in enumerate(conversations) if i in held],
    )


def eval_examples(conversations: list[Conversation]) -> list[EvalExample]:
    """One example per conversation: the turns before its last assistant reply, and that reply.

    Preference rows use their chosen reply; rows without an assistant reply are left out."""
    examples = []
    for conversation in conversations:
        turns = [m.to_openai() for m in conversation.messages]
        if conversation.chosen is not None:
            examples.append(EvalExample(turns, conversation.chosen.content))
            continue
        last = max((i for i, m in enumerate(conversation.messages) if m.role == "assistant"), default=0)
        if last > 0:
            examples.append(EvalExample(turns[:last], turns[last]["content"]))
    return examples
