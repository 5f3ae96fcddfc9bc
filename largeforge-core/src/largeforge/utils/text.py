"""Small text helpers shared by the distributions."""

from __future__ import annotations


def query_key(text: str) -> str:
    """``text`` case-folded with its white space collapsed: two queries with the same key are the
    same query (a routing correction relabels every training row with its key)."""
    return " ".join(text.casefold().split())
