"""Learning from misroutes: corrections sent through ``POST /v1/router/feedback`` (admin key)
are stored, and the next training (a restarted router, ``router train``) routes those queries to
the expert they were corrected to."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from largeforge.cli.main import main
from largeforge_router.app import create_app
from largeforge_router.classifiers.neural import NeuralClassifier
from largeforge_router.config import load_router_config
from largeforge_router.router import Router

from .router_testing import ExpertServer, serve_app

ADMIN = {"Authorization": "Bearer root"}
TRAINING = [
    ("How do I fix this Python stack trace?", "code"),
    ("Why does my JavaScript loop never end?", "code"),
    ("How do I reverse a list in Python?", "code"),
    ("What does this compiler error mean?", "code"),
    ("Tell me a joke", "general"),
    ("What is the capital of Peru?", "general"),
    ("Recommend a good novel", "general"),
    ("How are you today?", "general"),
]
#: Routed to code by what the classifier learnt; this team wants it answered by general.
MISROUTED = "What does the python snake eat in the wild?"


def write_config(tmp_path: Path, experts: dict[str, ExpertServer]) -> Path:
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"query": q, "expert": e}) + "\n" for q, e in TRAINING))
    config = {
        "experts": [
            {"name": "code", "description": "Programming help", "endpoints": [experts["code"].url]},
            {"name": "general", "description": "Everything else", "endpoints": [experts["general"].url]},
        ],
        # the frozen encoder and no second opinion keep the test fast; the feedback path is the same.
        # Without the bundled general questions, which would already keep MISROUTED with general.
        "classifier": {
            "background": False,
            "classifier_type": "neural",
            "fallback_expert": "general",
            "confidence_threshold": 0.0,
            "fine_tune": False,
            "second_opinion": False,
            "training_data": "train.jsonl",
            "feedback_data": "feedback.jsonl",
        },
        "server": {"admin_keys": ["root"], "health_check_interval": 0},
    }
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def routed(url: str, query: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": query}]},
        timeout=30,
    )


def test_corrections_through_the_endpoint_are_learnt_at_the_next_training(
    tmp_path: Path, experts: dict[str, ExpertServer]
) -> None:
    path = write_config(tmp_path, experts)
    with serve_app(create_app(Router.from_config(load_router_config(path)))) as url:
        first = routed(url, MISROUTED)
        assert first.headers["x-largeforge-expert"] == "code"  # the misroute the user corrects
        request_id = first.headers["x-request-id"]
        stored = httpx.post(
            f"{url}/v1/router/feedback", json={"request_id": request_id, "expert": "general"}, headers=ADMIN
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["stored"] == {"query": MISROUTED, "expert": "general", "routed": "code"}
        # a query can be corrected directly too; the later correction of the same query wins
        also = "How do I reverse a string in Python?"
        assert (
            httpx.post(f"{url}/v1/router/feedback", json={"query": also, "expert": "general"}, headers=ADMIN).json()[
                "corrections"
            ]
            == 2
        )
        assert (
            httpx.post(f"{url}/v1/router/feedback", json={"query": also, "expert": "code"}, headers=ADMIN).json()[
                "corrections"
            ]
            == 2
        )
        # nothing changes until the classifier is trained again
        assert routed(url, MISROUTED).headers["x-largeforge-expert"] == "code"
    rows = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text().splitlines()]
    assert (rows[0]["query"], rows[0]["expert"], rows[0]["request_id"]) == (MISROUTED, "general", request_id)

    with serve_app(create_app(Router.from_config(load_router_config(path)))) as url:  # a restart retrains
        assert routed(url, MISROUTED).headers["x-largeforge-expert"] == "general"
        assert routed(url, also).headers["x-largeforge-expert"] == "code"
        assert routed(url, "How do I fix this Python stack trace?").headers["x-largeforge-expert"] == "code"


def test_router_train_learns_the_stored_corrections(
    tmp_path: Path, experts: dict[str, ExpertServer], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, experts)
    (tmp_path / "feedback.jsonl").write_text(json.dumps({"query": MISROUTED, "expert": "general"}) + "\n")
    code = main(
        [
            "router",
            "train",
            "--config",
            str(path),
            "--data",
            str(tmp_path / "train.jsonl"),
            "--output",
            str(tmp_path / "head"),
        ]
    )
    assert code in (0, None)
    assert "1 of them corrections" in capsys.readouterr().out
    head = NeuralClassifier(str(tmp_path / "head"), second_opinion=False)
    assert head.classify(MISROUTED).expert == "general"


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"request_id": "never-seen", "expert": "general"}, ADMIN, 404, "request_not_found"),
        ({"query": "hello", "expert": "nobody"}, ADMIN, 400, "expert_not_found"),
        ({"expert": "general"}, ADMIN, 400, None),
        ({"query": "hello", "expert": "general"}, {}, 401, "invalid_admin_key"),
        ({"query": "hello", "expert": "general", "extra": 1}, ADMIN, 400, None),
    ],
)
def test_bad_feedback_is_refused_with_a_client_error(
    tmp_path: Path,
    experts: dict[str, ExpertServer],
    body: dict[str, object],
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    path = write_config(tmp_path, experts)
    with serve_app(create_app(Router.from_config(load_router_config(path)))) as url:
        answer = httpx.post(f"{url}/v1/router/feedback", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code
    assert not (tmp_path / "feedback.jsonl").exists()
