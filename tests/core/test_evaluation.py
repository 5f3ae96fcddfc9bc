"""The model-free half of evaluation: the seeded held-out split, task metrics, classification
reports, the metric hook, and the report's SVG charts."""

from __future__ import annotations

import re

import pytest

from largeforge import hookimpl
from largeforge.data.conversation import Conversation, Message
from largeforge.evaluation import classification_report, contains, eval_examples, exact_match, rouge_l
from largeforge.evaluation.holdout import heldout_count, split_conversations
from largeforge.forge import svg


def rows(n: int) -> list[Conversation]:
    return [Conversation([Message("user", f"q{i}"), Message("assistant", f"a{i}")]) for i in range(n)]


def test_heldout_count_fraction_count_and_limits():
    assert heldout_count(40, 0.1) == 4
    assert heldout_count(5, 0.1) == 1  # a positive fraction holds out at least one row
    assert heldout_count(10, 3) == 3  # an int is a count
    assert heldout_count(3, 10) == 2  # one row is always left to train on
    assert heldout_count(1, 0.5) == 0
    assert heldout_count(10, 0) == 0


def test_split_is_seeded_disjoint_and_complete():
    data = rows(20)
    first, again = split_conversations(data, 0.25, seed=7), split_conversations(data, 0.25, seed=7)
    assert first.heldout == again.heldout and len(first.heldout) == 5
    assert sorted(c.messages[0].content for c in first.train + first.heldout) == sorted(
        c.messages[0].content for c in data
    )
    assert not {id(c) for c in first.train} & {id(c) for c in first.heldout}
    assert split_conversations(data, 0.25, seed=8).heldout != first.heldout


def test_eval_examples_take_the_last_reply():
    convo = Conversation(
        [
            Message("system", "s"),
            Message("user", "u1"),
            Message("assistant", "r1"),
            Message("user", "u2"),
            Message("assistant", "r2"),
        ]
    )
    (example,) = eval_examples([convo, Conversation([Message("user", "no reply")])])
    assert example.reference == "r2"
    assert [m["content"] for m in example.prompt] == ["s", "u1", "r1", "u2"]


def test_metrics():
    assert exact_match("  Run  it.", "run it.") == 1.0
    assert exact_match("Run it now.", "Run it.") == 0.0
    assert contains("Sure: Run `largeforge data validate FILE`.", "run `largeforge data validate file`") == 1.0
    assert contains("no", "yes") == 0.0
    assert rouge_l("the cat sat", "the cat sat") == pytest.approx(1.0)
    assert 0.0 < rouge_l("the cat sat on the mat", "a cat sat") < 1.0
    assert rouge_l("entirely different", "nothing shared here") == 0.0


def test_classification_report():
    report = classification_report([("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")], labels=["a", "b", "c"])
    assert report["accuracy"] == 0.75
    assert report["confusion"]["a"] == {"a": 1, "b": 1, "c": 0}
    assert report["per_label"]["b"]["precision"] == pytest.approx(2 / 3)
    assert report["per_label"]["a"]["recall"] == 0.5
    assert report["per_label"]["c"]["support"] == 0


def test_register_metrics_hook(pm):
    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register("starts_with_yes", lambda prediction, reference: float(prediction.startswith("yes")))

    pm.register(Plugin(), name="mine")
    metrics = pm.registries.metrics
    assert {"exact_match", "contains", "rouge_l", "starts_with_yes"} <= set(metrics.names())
    assert metrics.entry("starts_with_yes").provider == "mine"
    assert metrics.entry("rouge_l").provider == "core"
    assert metrics.get("starts_with_yes")("yes indeed", "") == 1.0


def test_svg_charts_draw_their_data():
    line = svg.line_chart({"train loss": [[1, 2.0], [2, 1.5], [3, 1.0]]}, title="t", plot_id="loss")
    assert line.count("<circle") == 3 and 'data-plot="loss"' in line
    bars = svg.bar_chart(
        ["em", "rouge"], {"base": [0.1, None], "expert": [0.9, 0.8]}, title="b", plot_id="m", y_max=1.0
    )
    assert bars.count('class="bar"') == 3
    heat = svg.heatmap(["a", "b"], {"a": {"a": 3, "b": 1}, "b": {"a": 0, "b": 4}}, title="c", plot_id="c")
    assert heat.count('class="cell"') == 4 and re.search(r">4</text>", heat)
    assert svg.nice_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
