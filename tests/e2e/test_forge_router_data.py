"""A forge pipeline's router learns from its experts' own training data, with no extra file,
and routes the experts' held-out prompts (never trained on) to the right expert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from largeforge.forge import load_pipeline, plan_pipeline
from largeforge.forge.route_stage import ROUTING_FILE, heldout_prompts, run_routing
from largeforge.forge.router_data import PROMPTS_PER_EXPERT, ROUTER_FEEDBACK, router_training_rows, training_prompts
from largeforge.forge.services import router_request
from largeforge_router.forge_service import write_config

pytest.importorskip("sentence_transformers")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "router"


def write_pipeline(tmp_path: Path) -> Path:
    """Seven experts whose data files are the labelled queries of examples/router (as Alpaca
    rows), with their descriptions and keywords, and no ``queries`` or router training file."""
    config = yaml.safe_load((EXAMPLES / "router.yaml").read_text())
    rows: dict[str, list[dict[str, str]]] = {}
    for line in (EXAMPLES / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows.setdefault(row["expert"], []).append({"instruction": row["query"], "output": "An answer."})
    experts = []
    for expert in config["experts"]:
        (tmp_path / f"{expert['name']}.json").write_text(json.dumps(rows[expert["name"]]))
        experts.append(
            {
                "name": expert["name"],
                "description": expert["description"],
                "keywords": expert["keywords"],
                "data": f"{expert['name']}.json",
            }
        )
    pipeline = {
        "name": "routing",
        "base_model": "smollm2-135m-instruct",
        "workdir": "runs",
        "defaults": {"sft": {"max_steps": 1}, "eval": {"val_size": 0.3, "seed": 0}},
        "experts": experts,
        "router": {
            "classifier": {"classifier_type": "hybrid", "fallback_expert": "general", "confidence_threshold": 0.3}
        },
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


def test_router_trains_on_expert_data_and_routes_held_out_prompts(tmp_path: Path) -> None:
    plan = plan_pipeline(load_pipeline(write_pipeline(tmp_path)))
    rows = router_training_rows(plan)
    heldout = heldout_prompts(plan)
    assert len(heldout) >= 35 and len({e for _, e in heldout}) == 7
    # Every training row of every expert teaches the router; no held-out prompt does.
    assert {r["query"] for r in rows}.isdisjoint(q for q, _ in heldout)
    per_expert = {e.spec.name: len(training_prompts(e)) for e in plan.experts}
    assert all(n + sum(1 for _, x in heldout if x == name) == 20 for name, n in per_expert.items())
    assert len(rows) == sum(per_expert.values())

    assert plan.routing is not None
    summary = run_routing(plan, plan.routing, resume=False)
    report = json.loads((plan.routing.output / ROUTING_FILE).read_text())
    assert summary["examples"] == len(heldout) == len(report["prompts"])
    assert report["accuracy"] >= 0.85, [p for p in report["prompts"] if p["routed"] != p["expert"]]


def test_training_prompts_are_capped_per_expert(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    many = [
        {"instruction": f"How do I fix error number {i} in my program?", "output": "x"}
        for i in range(PROMPTS_PER_EXPERT * 2)
    ]
    (tmp_path / "code.json").write_text(json.dumps(many))
    plan = plan_pipeline(load_pipeline(path))
    code = next(e for e in plan.experts if e.spec.name == "code")
    prompts = training_prompts(code)
    assert len(prompts) == PROMPTS_PER_EXPERT and len(set(prompts)) == len(prompts)
    assert prompts == training_prompts(code)  # seeded


def test_corrections_the_forge_router_stored_relabel_its_training_rows(tmp_path: Path) -> None:
    plan = plan_pipeline(load_pipeline(write_pipeline(tmp_path)))
    before = router_training_rows(plan)
    moved, new = before[0], "what is the airspeed velocity of an unladen swallow"
    target = next(e.spec.name for e in plan.experts if e.spec.name != moved["expert"])
    workdir = plan.pipeline.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ROUTER_FEEDBACK).write_text(
        json.dumps({"query": moved["query"].upper(), "expert": target, "routed": moved["expert"]})
        + "\n"
        + json.dumps({"query": new, "expert": "general"})
        + "\n"
    )
    after = router_training_rows(plan)
    labels = {r["query"].casefold(): r["expert"] for r in after}
    assert labels[moved["query"].casefold()] == target and labels[new] == "general"
    assert len(after) == len(before) + 1  # the relabelled query replaced its row
    endpoints = {e.spec.name: ["http://127.0.0.1:9"] for e in plan.experts}
    config = yaml.safe_load(write_config(router_request(plan, endpoints)).read_text())
    assert config["classifier"]["feedback_data"] == ROUTER_FEEDBACK  # where the running router stores them
