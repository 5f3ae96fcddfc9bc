"""Screening: find cheaply the few rows of a file that need the full per-row check.

Checking a million rows through a method call each costs more than decoding them. A format's
``screen`` instead runs one plain comprehension over the decoded rows per question (could this
row fail a rule? could it earn a warning?) and returns the indices that might; only those go
through the exact check, which produces the message. Screens may flag too much (that only
costs time), never too little.
"""

from __future__ import annotations

#: Replies this short (after stripping) earn a "very short response" warning.
SHORT_RESPONSE_CHARS = 2
#: The opening of a ``{{name}}``-style template placeholder.
PLACEHOLDER_OPEN = "{{"
