"""Data formats on the real samples and on hand-made edge cases."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from largeforge.data import DatasetFactory, DataValidator, detect_format, load_conversations
from largeforge.data.conversation import Conversation, Message
from largeforge.errors import DataError

#: DatasetFactory hands rows to TRL as a ``datasets.Dataset`` (largeforge-train brings it).
needs_datasets = pytest.mark.skipif(
    importlib.util.find_spec("datasets") is None, reason="datasets is not installed (largeforge-train brings it)"
)
REAL = {
    "alpaca_en_demo.json": ("alpaca", 999),
    "identity.json": ("alpaca", 91),
    "glaive_toolcall_en_demo.json": ("sharegpt", 300),
    "dpo_en_demo.json": ("dpo", 300),
    "kto_en_demo.json": ("messages", 300),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_detect_and_validate(shared_data, name):
    fmt, rows = REAL[name]
    report = DataValidator().validate_file(shared_data / name)
    assert (report.format, report.total, report.valid, report.invalid) == (fmt, rows, rows, 0)


def test_tool_call_roles_are_supported(shared_data):
    convs = load_conversations(shared_data / "glaive_toolcall_en_demo.json")
    roles = {m.role for c in convs for m in c.messages}
    assert {"tool_call", "tool", "user", "assistant"} <= roles
    assert any(c.tools for c in convs)
    # The chat-template form turns tool calls into assistant turns every template renders.
    first_call = next(m for c in convs for m in c.messages if m.role == "tool_call")
    assert first_call.to_openai()["role"] == "assistant"


@needs_datasets
def test_sharegpt_style_preference_rows(shared_data):
    ds = DatasetFactory.load(shared_data / "dpo_en_demo.json")
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    row = ds[0]
    assert row["prompt"][-1]["role"] == "user"
    assert row["chosen"][0]["role"] == "assistant" and row["chosen"] != row["rejected"]


@needs_datasets
def test_kto_rows_keep_their_label(shared_data):
    ds = DatasetFactory.load(shared_data / "kto_en_demo.json")
    assert set(ds.column_names) == {"prompt", "completion", "label"}
    assert set(ds["label"]) == {True, False}


@needs_datasets
def test_alpaca_dataset_is_conversational(shared_data):
    ds = DatasetFactory.load(shared_data / "alpaca_en_demo.json", format="alpaca")
    assert ds.column_names == ["messages"] and len(ds) == 999
    assert [m["role"] for m in ds[0]["messages"]] == ["user", "assistant"]


def test_alpaca_input_and_history():
    valid, invalid = DataValidator.validate_alpaca(
        [
            {"instruction": "Translate", "input": "chat", "output": "cat"},
            {"instruction": "Q2", "output": "A2", "history": [["Q1", "A1"]], "system": "S"},
            {"instruction": "", "output": "Response"},
            {"instruction": "x", "output": "   "},
            {"instruction": 3, "output": "y"},
            {"output": "y"},
        ]
    )
    assert [m.content for m in valid[0].messages] == ["Translate\n\nchat", "cat"]
    assert [m.role for m in valid[1].messages] == ["system", "user", "assistant", "user", "assistant"]
    assert [(i["index"], i["error"]) for i in invalid] == [
        (2, "instruction is empty"),
        (3, "output is empty"),
        (4, "instruction: expected str, got int"),
        (5, "instruction: required field is missing"),
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"conversations": [{"from": "human", "value": "hi"}]}, "at least 2 turns"),
        (
            {"conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "b"}]},
            "conversations[0]: expected human or observation, got gpt",
        ),
        (
            {"conversations": [{"from": "human", "value": "a"}, {"from": "robot", "value": "b"}]},
            "unknown speaker 'robot'",
        ),
        (
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": ""}]},
            "conversations[1] (gpt): value is empty",
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "gpt", "value": "b"},
                    {"from": "human", "value": "c"},
                ]
            },
            "must end with a gpt",
        ),
    ],
)
def test_sharegpt_rejections(row, reason):
    valid, invalid = DataValidator.validate_sharegpt([row])
    assert not valid and reason in invalid[0]["error"]


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"question": "2+2?", "chosen": "4", "rejected": "5", "system": "Be exact."},
        {
            "prompt": [{"role": "user", "content": "2+2?"}],
            "chosen": [{"role": "assistant", "content": "4"}],
            "rejected": [{"role": "assistant", "content": "5"}],
        },
        {
            "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
            "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
        },
        {
            "conversations": [{"from": "human", "value": "2+2?"}],
            "chosen": {"from": "gpt", "value": "4"},
            "rejected": {"from": "gpt", "value": "5"},
        },
    ],
    ids=["flat", "question+system", "trl-conversational", "trl-implicit-prompt", "sharegpt-style"],
)
def test_preference_dialects_agree(row):
    (conv,), invalid = DataValidator.validate_dpo([row])
    assert not invalid
    assert conv.messages[-1] == Message("user", "2+2?")
    assert (conv.chosen, conv.rejected) == (Message("assistant", "4"), Message("assistant", "5"))


def test_identical_preference_pair_is_invalid():
    _, invalid = DataValidator.validate_dpo([{"prompt": "p", "chosen": "same", "rejected": "same "}])
    assert invalid[0]["error"] == "chosen and rejected are identical"


def test_detect_format_prefers_the_more_specific_signature():
    assert detect_format([{"conversations": [], "chosen": {}, "rejected": {}}]) == "dpo"
    assert detect_format([{"conversations": []}]) == "sharegpt"
    assert detect_format([{"messages": [], "label": True}]) == "messages"
    with pytest.raises(DataError, match=r"unknown format: rows have keys \[text\]; known formats: alpaca"):
        detect_format([{"text": "hello"}])


def test_load_refuses_invalid_rows_unless_asked(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in [{"instruction": "a", "output": "b"}, {"instruction": "", "output": "b"}])
        + "\n"
    )
    with pytest.raises(DataError, match=r"1 of 2 rows are invalid \(line 2: instruction is empty\)"):
        load_conversations(path)
    assert len(load_conversations(path, skip_invalid=True)) == 1


def test_mixed_kinds_cannot_share_a_dataset():
    from largeforge.data import conversations_to_dataset

    sft = Conversation([Message("user", "q"), Message("assistant", "a")])
    pref = Conversation([Message("user", "q")], chosen=Message("assistant", "a"), rejected=Message("assistant", "b"))
    with pytest.raises(DataError, match="cannot mix"):
        conversations_to_dataset([sft, pref])


def test_without_datasets_a_dataset_says_what_to_install(monkeypatch):
    from largeforge.data import conversations_to_dataset

    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(DataError) as caught:
        conversations_to_dataset([Conversation([Message("user", "q"), Message("assistant", "a")])])
    assert str(caught.value) == (
        "building a training dataset needs the `datasets` package, which largeforge-train brings: "
        'pip install "largeforge-core[train]" (or pip install datasets)'
    )
