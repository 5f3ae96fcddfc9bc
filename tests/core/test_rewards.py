"""GRPO rewards: the built-ins, binding to settings, the ``register_rewards`` hook and its listing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from largeforge import hookimpl
from largeforge.errors import ConfigError
from largeforge.rewards import contains_answer, exact_match, format_regex, json_valid, resolve_rewards
from tests.helpers import SHOUTS_PLUGIN, fake_distribution, run_largeforge, with_path_entry

CHAT = [{"role": "assistant", "content": "  Paris "}]


def test_builtin_rewards_score_strings_and_messages():
    assert exact_match(["Paris", CHAT, "Lyon"], answer=["paris", "PARIS", "Paris"]) == [1.0, 1.0, 0.0]
    assert contains_answer(["It is Paris.", "No idea"], answer=["paris", "paris"]) == [1.0, 0.0]
    assert exact_match(["4"], reference_column="solution", solution=[4]) == [1.0]
    assert format_regex(["Answer: 4", "4"], format_pattern=r"^Answer: \d+$") == [1.0, 0.0]
    assert json_valid(['{"a": 1}', "```json\n[1, 2]\n```", "{a: 1}", ""]) == [1.0, 1.0, 0.0, 0.0]


def test_resolve_binds_settings_names_rewards_and_lists_columns(pm):
    (name, regex), (_, match) = resolve_rewards(
        ["format_regex", "exact_match"], {"format_pattern": "^Yes", "reference_column": "solution"}
    )
    assert name == "format_regex" and regex.__name__ == "format_regex"  # TRL logs rewards/<__name__>/mean
    assert regex(prompts=["p", "p"], completions=["Yes.", "No."]) == [1.0, 0.0]
    assert regex.columns == [] and match.columns == ["solution"]


@pytest.mark.parametrize(
    ("names", "settings", "weights", "message"),
    [
        (
            [],
            {},
            None,
            "GRPO needs at least one reward: set reward_funcs (registered: exact_match, contains_answer, "
            "format_regex, json_valid)",
        ),
        (
            ["nope"],
            {},
            None,
            "unknown reward 'nope' (registered: exact_match, contains_answer, format_regex, json_valid)",
        ),
        (["format_regex"], {}, None, "reward 'format_regex' needs format_pattern"),
        (["format_regex"], {"format_pattern": "(["}, None, "format_pattern '([': not a regular expression"),
        (["json_valid"], {}, [1.0, 2.0], "reward_weights has 2 values for 1 reward_funcs"),
    ],
)
def test_bad_reward_settings_fail_in_one_line(pm, names, settings, weights, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        resolve_rewards(names, settings, weights)


class LengthPlugin:
    """A third-party reward: a dataset column (``target_words``) and a setting of its own (``slack``)."""

    @hookimpl
    def register_rewards(self, register):
        def short_enough(completions, target_words, slack=0, **kwargs):
            return [float(len(str(c).split()) <= t + slack) for c, t in zip(completions, target_words, strict=True)]

        register("short_enough", short_enough)


def test_third_party_reward_registers_binds_its_options_and_needs_its_column(pm):
    pm.register(LengthPlugin(), name="lengths")
    assert pm.registries.rewards.entry("short_enough").provider == "lengths"
    assert pm.registries.rewards.entry("json_valid").provider == "core"
    ((_, reward),) = resolve_rewards(["short_enough"], {"slack": 1})
    assert reward.columns == ["target_words"]
    assert reward(completions=["a b c", "a b"], target_words=[2, 0]) == [1.0, 0.0]


def test_plugins_command_lists_rewards(tmp_path):
    listing = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "plugins", "--json"], capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    core = next(p for p in json.loads(listing.stdout)["plugins"] if p["name"] == "core")
    assert "register_rewards" in core["hooks"]
    assert core["provides"]["rewards"] == ["exact_match", "contains_answer", "format_regex", "json_valid"]


def test_third_party_reward_through_an_entry_point(tmp_path):
    """A distribution announcing a reward in the ``largeforge`` entry-point group: listed by
    ``largeforge plugins`` and resolved by name beside a built-in, scoring completions."""
    fake_distribution(tmp_path, "lf-rewards", "0.3.0", "rewards", "lf_rewards_plugin", SHOUTS_PLUGIN)
    listing = run_largeforge(["plugins", "--json"], tmp_path)
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}
    assert plugins["rewards"]["provides"] == {"rewards": ["shouts"]}
    code = (
        "from largeforge.rewards import resolve_rewards\n"
        "for name, reward in resolve_rewards(['shouts', 'json_valid']):\n"
        "    print(name, reward(['HI', 'hi', '{}']))\n"
    )
    scored = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=with_path_entry(tmp_path), timeout=120
    )
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.splitlines() == ["shouts [1.0, 0.0, 0.0]", "json_valid [0.0, 0.0, 1.0]"]
