"""Honest eval sizes and retention without a model: bootstrap intervals, paired comparisons, the
retention verdict and its one line, the shipped general set, and the report's tables."""

from __future__ import annotations

import json

import pytest

from largeforge.config.evaluation import EvalConfig
from largeforge.contracts import EvalExample
from largeforge.data import load_conversations
from largeforge.evaluation.bootstrap import Bootstrap
from largeforge.evaluation.retention import GENERAL_SET, general_examples, retention_line, verdict
from largeforge.evaluation.scoring import compare, intervals
from largeforge.forge.eval_stage import too_few_note
from largeforge.forge.report_html import render


def model(scores: list[float], losses: list[float] | None = None, metric: str = "contains") -> dict:
    """A ModelEvaluation as a dict, with per-row figures."""
    losses = losses or [1.0] * len(scores)
    return {
        "metrics": {metric: sum(scores) / len(scores)},
        "per_row": [
            {"row": i, "tokens": 4, "loss": loss, "scores": {metric: s}}
            for i, (s, loss) in enumerate(zip(scores, losses, strict=True))
        ],
    }


def test_bootstrap_is_seeded_and_narrows_with_more_rows():
    boot = Bootstrap()
    few = [1.0, 0.0, 1.0, 0.0]
    low, high = boot.mean(few)
    assert low < 0.5 < high and boot.mean(few) == Bootstrap().mean(few)
    wide = high - low
    many_low, many_high = boot.mean(few * 50)
    assert many_low < 0.5 < many_high and many_high - many_low < wide / 4
    assert boot.mean([1.0] * 7) == [1.0, 1.0]  # no spread, no width
    assert boot.mean([]) is None
    # The token-weighted loss: one long row dominates.
    low, high = boot.loss([1.0, 3.0], [1, 99])
    assert 1.0 <= low <= high <= 3.0


def test_paired_difference_sees_a_shift_that_unpaired_intervals_overlap():
    boot = Bootstrap()
    before = [0.1 * (i % 10) for i in range(60)]
    after = [v + 0.05 for v in before]
    low, high = boot.difference(before, after)
    assert low == pytest.approx(0.05) and high == pytest.approx(0.05)  # the same shift on every row
    b, a = boot.mean(before), boot.mean(after)
    assert a[0] < b[1]  # the unpaired intervals overlap


def test_intervals_and_compare_cover_every_figure():
    boot = Bootstrap()
    base, expert = model([1, 1, 0, 1] * 5, [2.0] * 20), model([0, 1, 0, 0] * 5, [1.0] * 20)
    figures = intervals(base, boot)
    assert set(figures) == {"loss", "perplexity", "contains"}
    assert figures["loss"] == [2.0, 2.0] and figures["perplexity"][0] == pytest.approx(7.389, abs=1e-3)
    result = compare(base, expert, boot)
    assert result["rows"] == 20
    assert result["contains"]["delta"] == pytest.approx(-0.5) and result["contains"]["interval"][1] < 0
    assert result["loss"]["delta"] == pytest.approx(-1.0)
    # Rows only one model scored (a row too long for it) are left out of the pairing.
    del expert["per_row"][0]
    assert compare(base, expert, boot)["rows"] == 19


def test_verdict_names_the_lost_answers_and_the_gate_holds():
    examples = [
        EvalExample([{"role": "user", "content": "What is the capital of France?"}], "Paris"),
        EvalExample([{"role": "user", "content": "What is 2 + 2?"}], "4"),
        EvalExample([{"role": "user", "content": "Opposite of hot?"}], "cold"),
        EvalExample([{"role": "user", "content": "Keyword for a function?"}], "def"),
    ] * 5
    base, forgot = model([1, 1, 1, 0] * 5), model([0, 1, 1, 0] * 5)
    judged = verdict(base, forgot, examples, max_regression=0.1, bootstrap=Bootstrap())
    assert not judged["passed"] and judged["regression"] == pytest.approx(0.25)
    assert judged["lost_count"] == 5 and judged["lost"][0] == {
        "prompt": "What is the capital of France?",
        "reference": "Paris",
    }
    line = retention_line("concierge", {**judged, "source": "20 of 240 rows of the general set"})
    assert "\n" not in line and "concierge" in line and "Paris" in line and "max_regression 0.10" in line
    assert verdict(base, base, examples, max_regression=0.1, bootstrap=Bootstrap())["passed"]
    assert verdict(base, forgot, examples, max_regression=0.3, bootstrap=Bootstrap())["passed"]


def test_the_shipped_general_set():
    rows = load_conversations(GENERAL_SET, "alpaca")
    assert len(rows) >= 200
    raw = [json.loads(line) for line in GENERAL_SET.read_text().splitlines()]
    assert raw[0]["instruction"] == "What is the capital of France?" and raw[0]["output"] == "Paris"
    assert len({r["instruction"] for r in raw}) == len(raw)
    assert all(r["output"].strip() and len(r["output"]) <= 30 for r in raw)
    # The first rows are a balanced subset: every category among the first 8.
    assert {r["category"] for r in raw[:8]} == {"knowledge", "reasoning", "writing", "code"}
    examples, source = general_examples(None, 30)
    assert len(examples) == 30 and source == f"30 of {len(raw)} rows of LargeForge's general set"


def test_too_few_rows_note_says_what_helps():
    config = EvalConfig()
    note = too_few_note("docs", 4, config)
    assert note and "4 eval rows" in note and "25 points" in note and "eval.data" in note and "val_size" in note
    assert too_few_note("docs", 20, config) is None and too_few_note("docs", 0, config) is None
    assert "larger eval file" in (too_few_note("docs", 5, EvalConfig(data="x.json")) or "")


def test_report_shows_intervals_and_retention():
    boot = Bootstrap()
    base, expert = model([0, 0, 1, 0] * 5), model([1, 1, 1, 0] * 5)
    for m in (base, expert):
        m.update(rows=20, skipped=0, loss=1.0, perplexity=2.7183, model="m", seconds=1.0, samples=[])
        m["intervals"] = intervals(m, boot)
    examples = [EvalExample([{"role": "user", "content": f"q{i}"}], f"a{i}") for i in range(20)]
    general = {
        "source": "20 of 240 rows of LargeForge's general set",
        "rows": 20,
        "models": {"base": expert, "expert": base},
        **verdict(expert, base, examples, max_regression=0.1, bootstrap=boot),
    }
    figures = {
        "pipeline": "p",
        "base_model": "b",
        "workdir": "w",
        "generated": "now",
        "stages": [],
        "routing": None,
        "notes": [],
        "experts": {
            "docs": {
                "description": "",
                "training": {},
                "quantization": None,
                "eval": {
                    "rows": 20,
                    "source": "20 rows of docs_eval.json",
                    "metrics": ["contains"],
                    "confidence": 0.95,
                    "models": {"base": base, "expert": expert},
                    "comparison": compare(base, expert, boot),
                    "general": general,
                    "notes": [],
                },
            }
        },
    }
    page = render(figures)
    task = expert["intervals"]["contains"]
    assert f"0.7500 [{task[0]:.4f}, {task[1]:.4f}]" in page  # the expert's task figure with its interval
    assert "+0.5000 [" in page  # its paired gain
    assert 'id="retention"' in page and "LOST" in page and "-0.5000 [" in page
    assert "q0 <b>(a0)</b>" in page  # a lost general answer is listed
