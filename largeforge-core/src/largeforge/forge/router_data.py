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

from largeforge.forge.eval_stage import split_stage_data
from largeforge.forge.stages import stage_source
from largeforge.utils.io import load_jsonl
from largeforge.utils.text import query_key

if TYPE_CHECKING:
    from largeforge.forge.stages import ExpertPlan, Plan

PROMPTS_PER_EXPERT = 200
SEED = 0
#: Where the forge's router stores corrections (``POST /v1/router/feedback``), in the workdir.
ROUTER_FEEDBACK = "router-feedback.jsonl"


def training_prompts(expert: ExpertPlan, limit: int = PROMPTS_PER_EXPERT) -> list[str]:
    """Distinct last user turns of the expert's training rows (held-out rows excluded), at most
    ``limit`` of them (a seeded sample, file order kept)."""
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


def router_training_rows(plan: Plan) -> list[dict[str, str]]:
    """The labelled queries (``{"query", "expert"}``) the router's classifier trains on: each
    expert's ``queries``, the prompts of its own training data (:func:`router_rows`) and the rows
    of ``router.training_data``, relabelled by the corrections the running router stored
    (``POST /v1/router/feedback`` into the workdir's :data:`ROUTER_FEEDBACK`). The routing
    evaluation trains the same classifier on the same rows."""
    rows = [{"query": q, "expert": e.spec.name} for e in plan.experts for q in e.spec.queries]
    rows += router_rows(plan.experts)
    if plan.pipeline.spec.router.training_data:
        rows += load_jsonl(plan.pipeline.resolve(plan.pipeline.spec.router.training_data))
    feedback = plan.pipeline.workdir / ROUTER_FEEDBACK
    if feedback.is_file():  # corrections sent to the running router relabel the queries they name
        corrections = {query_key(row["query"]): row for row in load_jsonl(feedback)}
        rows = [row for row in rows if query_key(row["query"]) not in corrections]
        rows += [{"query": row["query"], "expert": row["expert"]} for row in corrections.values()]
    return rows
