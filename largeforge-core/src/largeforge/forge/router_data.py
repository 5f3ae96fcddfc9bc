"""What a forge pipeline's router learns from: the prompts of each expert's own training data.

Every expert's data file already holds in-domain queries (the last user turn of each training
row), so the router's classifier needs no extra labelled file. Rows the eval stage holds out are
left out (the routing evaluation scores those), and each expert gives at most
:data:`PROMPTS_PER_EXPERT` prompts, a seeded sample, so experts with big data sets neither
swamp the others nor slow the router's start-up.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from largeforge.forge.plan import ExpertPlan

PROMPTS_PER_EXPERT = 200
SEED = 0


def training_prompts(expert: ExpertPlan, limit: int = PROMPTS_PER_EXPERT) -> list[str]:
    """Distinct last user turns of the expert's training rows (held-out rows excluded), at most
    ``limit`` of them (a seeded sample, file order kept)."""
    from largeforge.forge.eval_stage import split_stage_data
    from largeforge.forge.plan import stage_source

    sft = expert.stages[0]
    split = split_stage_data(stage_source(sft), sft.config["format"], sft.config.get("holdout"))
    prompts: dict[str, None] = {}
    for conversation in split.train:
        users = [m.content for m in conversation.messages if m.role == "user" and m.content.strip()]
        if users:
            prompts[users[-1]] = None
    unique = list(prompts)
    if len(unique) <= limit:
        return unique
    keep = set(random.Random(SEED).sample(range(len(unique)), limit))
    return [p for i, p in enumerate(unique) if i in keep]


def router_rows(plan_experts: list[ExpertPlan]) -> list[dict[str, str]]:
    """``{"query", "expert"}`` rows: every expert's training prompts."""
    return [{"query": q, "expert": e.spec.name} for e in plan_experts for q in training_prompts(e)]
