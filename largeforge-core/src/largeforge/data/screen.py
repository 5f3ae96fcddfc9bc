"""Screening: find cheaply the few rows of a file that need the full per-row check.

Checking a million rows through a method call each costs more than decoding them. A format's
``screen`` instead runs one plain comprehension over the decoded rows per question (could this
row fail a rule? could it earn a warning?) and returns the indices that might; only those go
through the exact check, which produces the message. Screens may flag too much (that only
costs time), never too little.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from largeforge.contracts import RowError

#: Replies this short (after stripping) earn a "very short response" warning.
SHORT_RESPONSE_CHARS = 2
#: The opening of a ``{{name}}``-style template placeholder.
PLACEHOLDER_OPEN = "{{"

# Turn order: a row's roles spelled one character each (its "signature"); the rules run once per
# distinct signature, and a file has few of them.
_ROLE_CODE = {"user": "u", "assistant": "a", "system": "s", "tool_call": "f", "tool": "t"}
_CODE_ROLE = {code: role for role, code in _ROLE_CODE.items()}


class RoleCodes(dict[str | None, str]):
    """A format's speaker names → one character per internal role; ``?`` for an unknown name,
    so the row's signature fails and the row gets the exact check (and its message)."""

    def __init__(self, roles: Mapping[str, str]) -> None:
        super().__init__({name: _ROLE_CODE[role] for name, role in roles.items()})

    def __missing__(self, name: str | None) -> str:
        return "?"


def roles_of(signature: str) -> list[str]:
    """The internal roles a signature spells."""
    return [_CODE_ROLE[code] for code in signature]


def signature_test(rule: Callable[[str], object]) -> Callable[[str], bool]:
    """A cached test: does ``rule`` (raising :class:`RowError`) accept a signature?"""

    @lru_cache(maxsize=4096)
    def valid(signature: str) -> bool:
        if "?" in signature:
            return False
        try:
            rule(signature)
        except RowError:
            return False
        return True

    return valid


def failing_signatures(signatures: Sequence[str], valid: Callable[[str], bool]) -> set[int]:
    """Indices of the rows whose signature ``valid`` rejects."""
    bad = {s for s in set(signatures) if not valid(s)}
    return {i for i, s in enumerate(signatures) if s in bad} if bad else set()


class TurnOrder:
    """A format's turn rules, screened: ``code`` spells a row's speakers one character each (its
    signature, see :class:`RoleCodes`), and :meth:`failing` finds the rows whose signature ``rule``
    (given a signature, raising :class:`RowError`) rejects, testing each distinct one once."""

    def __init__(self, speakers: Mapping[str, str], rule: Callable[[str], object]) -> None:
        self.code = RoleCodes(speakers)
        self.valid = signature_test(rule)

    def failing(self, signatures: Sequence[str]) -> set[int]:
        """Indices of the rows whose signature the rule rejects."""
        return failing_signatures(signatures, self.valid)
