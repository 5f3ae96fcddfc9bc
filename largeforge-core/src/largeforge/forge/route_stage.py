"""The routing evaluation of ``largeforge forge``: the router's classifier on the experts'
held-out prompts, labelled with the expert they belong to.

The classifier is the one the router will run (``router.classifier`` through the core registry of
classifiers), trained on the same rows (:func:`largeforge.forge.router_data.router_training_rows`);
each prompt is routed as the router service decides (a pick below ``confidence_threshold`` or
outside the experts goes to ``fallback_expert``). Writes ``routing.json``: accuracy, the
classifier's own accuracy, the fallback rate, per-expert precision/recall and the confusion matrix.
"""

from __future__ import annotations

from typing import Any

from largeforge.forge.eval_stage import heldout_examples
from largeforge.forge.router_data import router_training_rows
from largeforge.forge.stages import Plan, Stage, stage_key
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)
ROUTING_FILE = "routing.json"
ROUTER = "router"


def plan_routing(plan: Plan) -> Stage | None:
    """The routing stage, after every expert's eval stage; ``None`` with a single expert or
    when no expert is evaluated."""
    evaluated = [e for e in plan.experts if e.evaluation is not None]
    if len(plan.experts) < 2 or not evaluated:
        return None
    spec = plan.pipeline.spec
    experts = [
        {"name": e.spec.name, "description": e.spec.description, "keywords": e.spec.keywords} for e in plan.experts
    ]
    sources = [
        {
            "expert": e.spec.name,
            "format": e.evaluation.config["format"],
            "eval": e.evaluation.config["eval"],
            "holdout": e.evaluation.config["holdout"],
        }
        for e in evaluated
        if e.evaluation is not None
    ]
    inputs = [p for e in evaluated if e.evaluation is not None for p in e.evaluation.inputs]
    stage = Stage(
        ROUTER,
        "route",
        spec.router.classifier.classifier_type,
        plan.pipeline.workdir / "routing",
        {
            "classifier": spec.router.classifier.to_dict(),
            "experts": experts,
            "sources": sources,
            "training_rows": router_training_rows(plan),
        },
        inputs,
    )
    stage.key = stage_key(stage, spec.base_model)
    return stage


def heldout_prompts(plan: Plan) -> list[tuple[str, str]]:
    """``(prompt, expert)`` for every held-out row of every evaluated expert: the last user turn."""
    from largeforge.config.evaluation import EvalConfig

    pairs = []
    for expert in plan.experts:
        if expert.evaluation is None:
            continue
        examples, _ = heldout_examples(expert.evaluation, EvalConfig.from_dict(expert.evaluation.config["eval"]))
        for example in examples:
            users = [m["content"] for m in example.prompt if m["role"] == "user"]
            if users:
                pairs.append((users[-1], expert.spec.name))
    return pairs


def run_routing(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    """Classify every held-out prompt and write ``routing.json``; returns its headline figures."""
    from largeforge.config import ExpertConfig, RouterConfig
    from largeforge.evaluation import classification_report
    from largeforge.plugins import registries
    from largeforge.utils.io import save_json

    config = RouterConfig.from_dict(stage.config["classifier"])
    names = [e["name"] for e in stage.config["experts"]]
    pairs = heldout_prompts(plan)
    result: dict[str, Any] = {"classifier": config.classifier_type, "notes": []}
    if not pairs:
        note = "router: no held-out prompts to route (no expert has held-out rows): routing not measured"
        logger.warning(note)
        result["notes"].append(note)
        save_json(result, stage.output / ROUTING_FILE)
        return {"examples": 0}
    experts = [ExpertConfig.from_dict(e) for e in stage.config["experts"]]
    training = [(row["query"], row["expert"]) for row in stage.config["training_rows"]]
    classifier = registries().classifiers.get(stage.plugin)(config, experts, training_data=training or None)
    routed, picked, fallbacks = [], [], 0
    threshold = config.threshold_for(classifier)
    for prompt, label in pairs:
        choice = classifier.classify(prompt)
        fallback = choice.expert not in names or choice.confidence < threshold
        fallbacks += fallback
        routed.append((label, config.fallback_expert if fallback else choice.expert))
        picked.append((label, choice.expert))
    report = classification_report(routed, names)
    result.update(
        report,
        confidence_threshold=threshold,
        classifier_accuracy=classification_report(picked, names)["accuracy"],
        fallback_rate=fallbacks / len(pairs),
        prompts=[
            {"prompt": prompt, "expert": label, "routed": routed[i][1]} for i, (prompt, label) in enumerate(pairs)
        ],
    )
    save_json(result, stage.output / ROUTING_FILE)
    return {
        "examples": report["examples"],
        "accuracy": round(report["accuracy"], 3),
        "fallback_rate": round(result["fallback_rate"], 3),
    }
