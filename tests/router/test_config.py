"""The router config file: one YAML with experts, classifier and server sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from largeforge.errors import ConfigError
from largeforge_router.config import load_router_config, read_labelled

BASE = """experts:
  - name: code
    keywords: [python]
    endpoints: [http://127.0.0.1:9001/]
  - name: general
classifier:
  fallback_expert: general
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(text)
    return path


def test_example_config_loads_with_paths_relative_to_the_file(examples_dir: Path) -> None:
    cfg = load_router_config(examples_dir / "router.yaml")
    assert len(cfg.experts) >= 5
    assert cfg.classifier.classifier_type == "hybrid"
    assert Path(cfg.classifier.training_data or "") == examples_dir.resolve() / "train.jsonl"
    assert cfg.server.port == 8080 and cfg.server.load_balancing == "round_robin"


def test_defaults_and_endpoint_normalisation(tmp_path: Path) -> None:
    cfg = load_router_config(write(tmp_path, BASE + "server:\n  load_balancing: weighted\n  port: 0\n"))
    assert cfg.experts[0].all_endpoints == ["http://127.0.0.1:9001"]
    assert cfg.server.load_balancing == "weighted" and cfg.server.port == 0
    assert cfg.classifier.confidence_threshold == "auto" and cfg.classifier.threshold_for() == 0.6


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  - name: bad name\n", "experts[2].name = 'bad name' is invalid"),
        ("  - name: x\n    temperature: 3\n", "experts[2].temperature = 3 is invalid: expected float <= 2.0"),
        ("  - name: code\n", "expert names must be unique; repeated: code"),
        ("  - name: x\n    endpoints: [ftp://host]\n", "must start with http:// or https://"),
    ],
)
def test_bad_experts_name_file_and_field(tmp_path: Path, extra: str, expected: str) -> None:
    head, tail = BASE.split("classifier:")
    path = write(tmp_path, head + extra + "classifier:" + tail)
    with pytest.raises(ConfigError) as info:
        load_router_config(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("classifier:\n  fallback_expert: nobody\n", "fallback_expert 'nobody' is not one of the experts"),
        ("classifier:\n  fallback_expert: general\n  keyword_weight: 0.5\n", "must be 1.0"),
        ("classifier:\n  fallback_expert: general\n  classifier_type: magic\n", "'keyword', 'neural', 'hybrid'"),
        ("classifier:\n  fallback_expert: general\nserver:\n  load_balancing: random\n", "server.load_balancing"),
        ("classifier:\n  fallback_expert: general\nserver:\n  port: 70000\n", "server.port = 70000"),
        ("classifier:\n  fallback_expert: general\nserver:\n  failure_threshold: 0\n", "server.failure_threshold"),
        ("classifier:\n  fallback_expert: general\nserver:\n  colour: red\n", "server.colour: unknown field"),
    ],
)
def test_bad_classifier_and_server_values(tmp_path: Path, section: str, expected: str) -> None:
    path = write(tmp_path, BASE.split("classifier:")[0] + section)
    with pytest.raises(ConfigError, match=None) as info:
        load_router_config(path)
    assert expected in str(info.value), str(info.value)


def test_labelled_rows(tmp_path: Path, examples_dir: Path) -> None:
    pairs = read_labelled(examples_dir / "eval.jsonl")
    assert len(pairs) >= 100 and len({e for _, e in pairs}) >= 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "ok", "expert": "code"}\n{"query": "", "expert": "code"}\n')
    with pytest.raises(ConfigError, match="row 2"):
        read_labelled(bad)
