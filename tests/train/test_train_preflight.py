"""The preflight stops each of the four classic broken setups before anything loads or trains."""

from __future__ import annotations

import copy

import pytest

from largeforge.data import DatasetFactory
from largeforge_train.errors import PreflightError
from largeforge_train.preflight import check_chat_template, preflight_dpo, preflight_sft
from largeforge_train.sft_data import to_prompt_completion


@pytest.fixture()
def rows(sft_file):
    return to_prompt_completion(DatasetFactory.load(sft_file))


def test_good_data_passes_and_counts_trained_tokens(rows, tokenizer):
    report = preflight_sft(rows, tokenizer, max_length=512)
    assert report.checked == 6 and report.truncated == 0
    assert report.trained_tokens > 6 * 5  # the replies, with their end-of-turn token


def test_loss_mask_covering_nothing_is_stopped(rows, tokenizer):
    # A template that renders only user turns: nothing after the prompt is ever trained.
    template = "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    with pytest.raises(PreflightError, match="the loss mask covers nothing"):
        preflight_sft(rows, tokenizer, max_length=512, chat_template=template)


def test_train_on_prompt_is_the_way_out_of_an_empty_mask(rows, tokenizer):
    template = "{% for m in messages %}{{ m['content'] }}<|im_end|>{% endfor %}"
    preflight_sft(rows, tokenizer, max_length=512, chat_template=template, completion_only=False)


def test_examples_not_ending_with_eos_are_stopped(rows, tokenizer):
    # The classic "never stops talking": EOS differs from the template's end-of-turn token.
    other = copy.deepcopy(tokenizer)
    other.eos_token = "<|endoftext|>"
    with pytest.raises(PreflightError, match=r"do not end with the tokenizer's EOS token '<\|endoftext\|>'"):
        preflight_sft(rows, other, max_length=512)


def test_tokenizer_without_chat_template_is_stopped(rows, tokenizer):
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    with pytest.raises(PreflightError, match="has no chat template and none was given"):
        preflight_sft(rows, bare, max_length=512)
    with pytest.raises(PreflightError, match="no chat template"):
        check_chat_template(bare)
    check_chat_template(bare, "{{ messages[0]['content'] }}")  # one given: fine


def test_every_example_truncated_is_stopped(tmp_path, tokenizer):
    import json

    long = " ".join(["word"] * 200)
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"instruction": f"Repeat {i}", "input": "", "output": long} for i in range(4)]))
    rows = to_prompt_completion(DatasetFactory.load(path))
    with pytest.raises(PreflightError, match=r"every example is truncated.*max_seq_length=128"):
        preflight_sft(rows, tokenizer, max_length=128)
    with pytest.raises(PreflightError, match="every example is truncated"):  # packing (bfd) truncates too
        preflight_sft(rows, tokenizer, max_length=128, packing=True)
    preflight_sft(rows, tokenizer, max_length=1024)


def test_some_truncated_only_warns(tmp_path, tokenizer, sft_file):
    import json

    data = json.loads(sft_file.read_text())
    data.append({"instruction": "Long", "input": "", "output": " ".join(["word"] * 300)})
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data))
    report = preflight_sft(to_prompt_completion(DatasetFactory.load(path)), tokenizer, max_length=128)
    assert report.truncated == 1 and any("truncated" in w for w in report.warnings)


def test_preference_data_is_checked(pref_file, tokenizer):
    rows = DatasetFactory.load(pref_file)
    assert preflight_dpo(rows, tokenizer, max_length=512).checked == 6
    other = copy.deepcopy(tokenizer)
    other.eos_token = "<|endoftext|>"
    with pytest.raises(PreflightError, match="chosen reply does not end with the tokenizer's EOS"):
        preflight_dpo(rows, other, max_length=512)


def test_multi_turn_conversations_train_every_assistant_turn():
    import datasets

    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ]
    out = to_prompt_completion(datasets.Dataset.from_list([{"messages": messages}]))
    assert [r["completion"][0]["content"] for r in out] == ["b", "d"]
    assert len(out[1]["prompt"]) == 3
