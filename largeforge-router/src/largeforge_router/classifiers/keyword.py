"""Keyword classifier: case-insensitive words and phrases on word boundaries."""

from __future__ import annotations

import re
import threading

from largeforge.contracts import ClassificationResult

METHOD = "keyword"


def _pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """One regex matching any keyword as a whole word or phrase (inner spaces match any spacing)."""
    words = sorted({" ".join(k.lower().split()) for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split(" ")) for w in words)
    # \w lookarounds instead of \b so keywords such as "c++" or ".net" still match on their edges.
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class KeywordClassifier:
    """Pick the expert whose keywords the query mentions most.

    Scores are each expert's share of the matched keywords (summing to 1 when anything matched).
    Confidence multiplies *separation* (how far the best expert is ahead of the runner-up) by
    *strength*, which grows with the number of distinct keywords matched and with the share of
    the expert's keyword list they cover: one lone keyword gives 0.67, three or more give 1.0.
    No match gives the fallback expert with confidence 0.
    """

    def __init__(self, expert_keywords: dict[str, list[str]], fallback_expert: str = "general") -> None:
        self.fallback_expert = fallback_expert
        self._lock = threading.Lock()
        self._keywords: dict[str, list[str]] = {}
        self._patterns: dict[str, re.Pattern[str] | None] = {}
        for name, keywords in expert_keywords.items():
            self.add_expert(name, keywords)

    @property
    def experts(self) -> list[str]:
        """Names of the experts this classifier knows."""
        return list(self._keywords)

    def add_expert(self, name: str, keywords: list[str]) -> None:
        """Add (or replace) an expert and its keywords."""
        with self._lock:
            self._keywords[name] = list(keywords)
            self._patterns[name] = _pattern(keywords)

    def remove_expert(self, name: str) -> None:
        """Forget an expert (no error if unknown)."""
        with self._lock:
            self._keywords.pop(name, None)
            self._patterns.pop(name, None)

    def matches(self, query: str) -> dict[str, list[str]]:
        """The distinct keywords of each expert found in ``query`` (lower-case, spacing normalised)."""
        with self._lock:
            patterns = dict(self._patterns)
        found: dict[str, list[str]] = {}
        for name, pattern in patterns.items():
            hits = sorted({" ".join(m.lower().split()) for m in pattern.findall(query)}) if pattern else []
            found[name] = hits
        return found

    def classify(self, query: str) -> ClassificationResult:
        """Score every expert by its matched keywords and pick the best."""
        found = self.matches(query)
        # A phrase is stronger evidence than a single word: weight by its word count.
        weight = {name: float(sum(len(h.split()) for h in hits)) for name, hits in found.items()}
        total = sum(weight.values())
        if total == 0:
            return ClassificationResult(
                expert=self.fallback_expert,
                confidence=0.0,
                scores=dict.fromkeys(found, 0.0),
                method=METHOD,
                details={"matched": {}},
            )
        scores = {name: w / total for name, w in weight.items()}
        ranked = sorted(weight.items(), key=lambda kv: kv[1], reverse=True)
        best, best_w = ranked[0]
        second_w = ranked[1][1] if len(ranked) > 1 else 0.0
        separation = (best_w - second_w) / best_w
        n_keywords = max(1, len(self._keywords.get(best, [])))
        coverage = len(found[best]) / n_keywords
        strength = 0.5 + 0.5 * min(1.0, best_w / 3 + coverage)
        return ClassificationResult(
            expert=best,
            confidence=round(separation * strength, 6),
            scores=scores,
            method=METHOD,
            details={
                "matched": {name: hits for name, hits in found.items() if hits},
                "separation": separation,
                "coverage": coverage,
            },
        )
