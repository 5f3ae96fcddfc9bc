"""``largeforge router classify | train | eval`` run in-process, and the plugin's registrations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from largeforge.cli.main import main


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_plugin_registers_classifiers_and_commands(pm) -> None:
    import largeforge_router.plugin as plugin
    from largeforge.cli.main import create_app
    from largeforge.config import ExpertConfig, RouterConfig
    from largeforge_router.classifiers.factory import build_classifier

    pm.register(plugin, name="router")
    assert {"keyword", "neural", "hybrid"} <= set(pm.registries.classifiers.names())
    clf = build_classifier(
        RouterConfig(classifier_type="keyword"),
        [ExpertConfig(name="code", keywords=["python"]), ExpertConfig(name="general")],
    )
    assert clf.classify("python").expert == "code"
    app = create_app(pm)
    assert any(g.name == "router" for g in app.registered_groups)


def test_classify_keyword(capsys, examples_dir: Path) -> None:
    out = run_json(
        capsys,
        "router",
        "classify",
        "why does my python function have a bug",
        "--config",
        str(examples_dir / "router.yaml"),
        "--method",
        "keyword",
        "--json",
    )
    assert out["expert"] == "code" and out["method"] == "keyword"
    assert out["details"]["matched"] == {"code": ["bug", "function", "python"]}
    out = run_json(
        capsys,
        "router",
        "classify",
        "tell me about the moon",
        "--config",
        str(examples_dir / "router.yaml"),
        "--method",
        "keyword",
        "--json",
    )
    assert out["expert"] == "general" and out["fallback_reason"] == "low_confidence"


def test_eval_reports_hybrid_clearly_above_keyword(capsys, examples_dir: Path) -> None:
    out = run_json(
        capsys,
        "router",
        "eval",
        "--config",
        str(examples_dir / "router.yaml"),
        "--train",
        str(examples_dir / "train.jsonl"),
        "--data",
        str(examples_dir / "eval.jsonl"),
        "--method",
        "keyword",
        "--method",
        "hybrid",
        "--json",
    )
    keyword, hybrid = out["methods"]["keyword"], out["methods"]["hybrid"]
    assert hybrid["examples"] >= 100 and len(hybrid["per_expert"]) >= 5
    assert hybrid["accuracy"] >= keyword["accuracy"] + 0.4, (keyword["accuracy"], hybrid["accuracy"])
    assert hybrid["accuracy"] >= 0.8
    assert keyword["fallback_rate"] > 0.5 > hybrid["fallback_rate"]
    confusion = hybrid["confusion"]
    assert sum(sum(row.values()) for row in confusion.values()) == hybrid["examples"]
    assert sum(confusion[e][e] for e in confusion) == round(hybrid["accuracy"] * hybrid["examples"])
    for name, m in hybrid["per_expert"].items():
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1, name
    assert hybrid["latency_ms"]["p95"] >= hybrid["latency_ms"]["p50"] > 0
    sweep = hybrid["thresholds"]
    at = {row["threshold"]: row for row in sweep["sweep"]}
    assert at[0.0]["fallback_rate"] == 0 and at[0.0]["accuracy"] == hybrid["classifier_accuracy"]
    assert out["confidence_threshold"] == hybrid["confidence_threshold"] == 0.5  # the example's own setting
    assert at[hybrid["confidence_threshold"]]["accuracy"] == hybrid["accuracy"]
    assert at[sweep["recommended"]]["accuracy"] == max(row["accuracy"] for row in sweep["sweep"])
    rates = [row["fallback_rate"] for row in sweep["sweep"]]
    assert rates == sorted(rates)


def test_train_saves_a_head_that_classify_loads(capsys, examples_dir: Path, tmp_path: Path) -> None:
    for name in ("router.yaml", "train.jsonl"):
        shutil.copy(examples_dir / name, tmp_path / name)
    config = tmp_path / "router.yaml"
    config.write_text(config.read_text().replace("training_data: train.jsonl", "neural_model: head"))
    assert main(["router", "train", "--config", str(config), "--data", str(tmp_path / "train.jsonl")]) == 0
    assert "saved to" in capsys.readouterr().out
    assert (tmp_path / "head" / "head.npz").is_file()
    out = run_json(
        capsys,
        "router",
        "classify",
        "How long should I knead bread by hand?",
        "--config",
        str(config),
        "--method",
        "neural",
        "--json",
    )
    assert out["expert"] == "cooking" and out["method"] == "neural"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("experts:\n  - name: a b\n", "experts[0].name = 'a b' is invalid"),
        ("experts: []\n", "experts is invalid: expected array of length >= 1"),
    ],
)
def test_bad_config_is_one_line_error(capsys, tmp_path: Path, yaml_text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    assert main(["router", "classify", "x", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and str(config) in err and message in err
    assert len(err.splitlines()) == 1


def test_eval_rejects_labels_that_are_not_experts(capsys, examples_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"query": "q", "expert": "astrology"}\n')
    code = main(
        ["router", "eval", "--config", str(examples_dir / "router.yaml"), "--train", str(data), "--data", str(data)]
    )
    assert code == 1 and "labels astrology are not experts" in capsys.readouterr().err
