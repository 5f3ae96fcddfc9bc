"""The layouts people's data comes in (TRL prompt/completion, LLaMA-Factory preference rows,
ShareGPT with role/content, OpenAI content parts), column mappings on the command line and in
LLaMA-Factory ``dataset_info.json`` registries, and tools kept from the file to the chat text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge.data import load_conversations
from largeforge.data.detect import get_format


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write(path: Path, rows: list) -> Path:
    path.write_text(json.dumps(rows))
    return path


LAYOUTS = {
    "trl_prompt_completion": ([{"prompt": "What is 2+2?", "completion": "4, of course."}], "prompt_completion", "sft"),
    "trl_conversational_kto": (
        [
            {
                "prompt": [{"role": "user", "content": "Is the sky blue?"}],
                "completion": [{"role": "assistant", "content": "Yes, on a clear day."}],
                "label": True,
            }
        ],
        "prompt_completion",
        "kto",
    ),
    "llamafactory_alpaca_preference": (
        [{"instruction": "Summarise:", "input": "A long text.", "chosen": "A summary.", "rejected": "No."}],
        "dpo",
        "preference",
    ),
    "sharegpt_role_content": (
        [
            {
                "conversations": [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi!!"}],
                "system": "Be brief.",
            }
        ],
        "sharegpt",
        "sft",
    ),
    "openai_content_parts": (
        [
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}],
                    },
                    {"role": "assistant", "content": "Both parts read."},
                ]
            }
        ],
        "messages",
        "sft",
    ),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_common_layouts_are_detected_and_read(tmp_path, name):
    rows, layout, task = LAYOUTS[name]
    path = write(tmp_path / f"{name}.json", rows)
    assert get_format("auto", path).name == layout
    (conversation,) = load_conversations(path)
    assert conversation.task == task
    texts = " ".join(m.content for m in conversation.messages) + " ".join(conversation.replies())
    for value in (
        "4, of course",
        "Yes, on a clear day",
        "A long text.",
        "A summary.",
        "Be brief.",
        "Part one.\nPart two.",
    ):
        if value in json.dumps(rows).replace("\\n", "\n"):
            assert value in texts


def test_an_ambiguous_file_names_the_closest_layout_and_the_missing_field(capsys, tmp_path):
    path = write(tmp_path / "half.json", [{"instruction": "Name a colour.", "answer": "Blue."}])
    code, _, err = run(capsys, "data", "validate", str(path))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "rows look like alpaca but have no output field" in err and "--columns output=<column>" in err


def test_columns_on_the_command_line(capsys, tmp_path):
    path = write(
        tmp_path / "qa.json",
        [{"question": "What is the capital of France?", "context": "", "answer": "Paris is the capital of France."}]
        * 3,
    )
    code, out, _ = run(
        capsys, "data", "validate", str(path), "--columns", "instruction=question,input=context,output=answer"
    )
    assert code == 0 and "format: alpaca  rows: 3  valid: 3" in out
    chat = write(
        tmp_path / "chat.json",
        [
            {
                "dialog": [
                    {"speaker": "customer", "text": "My order is late."},
                    {"speaker": "agent", "text": "Sorry, let me check."},
                ]
            }
        ],
    )
    code, out, _ = run(
        capsys,
        "data",
        "convert",
        str(chat),
        str(tmp_path / "m.jsonl"),
        "--to",
        "messages",
        "--columns",
        "conversations=dialog,role=speaker,content=text,user_tag=customer,assistant_tag=agent",
    )
    assert code == 0, out
    assert json.loads((tmp_path / "m.jsonl").read_text())["messages"] == [
        {"role": "user", "content": "My order is late."},
        {"role": "assistant", "content": "Sorry, let me check."},
    ]
    code, _, err = run(capsys, "data", "validate", str(path), "--columns", "instrucion=question")
    assert code == 1 and "'instrucion' is not a field of any data format" in err


@pytest.fixture()
def registry(tmp_path: Path, shared_data: Path) -> Path:
    """A LLaMA-Factory dataset_info.json: entries as LLaMA-Factory ships them, and renamed columns."""
    rows = json.loads((shared_data / "alpaca_en_demo.json").read_text())[:40]
    write(
        tmp_path / "qa.json",
        [{"question": r["instruction"], "context": r["input"], "answer": r["output"]} for r in rows],
    )
    kto = json.loads((shared_data / "kto_en_demo.json").read_text())[:30]
    write(
        tmp_path / "thumbs.json",
        [
            {
                "dialog": [
                    {"speaker": {"user": "customer", "assistant": "agent"}[m["role"]], "text": m["content"]}
                    for m in r["messages"]
                ],
                "thumb": r["label"],
            }
            for r in kto
        ],
    )
    for name in ("glaive_toolcall_en_demo", "dpo_en_demo", "kto_en_demo", "identity"):
        (tmp_path / f"{name}.json").write_bytes((shared_data / f"{name}.json").read_bytes())
    info = {
        "identity": {"file_name": "identity.json"},
        "glaive_toolcall_en_demo": {
            "file_name": "glaive_toolcall_en_demo.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "tools": "tools"},
        },
        "dpo_en_demo": {
            "file_name": "dpo_en_demo.json",
            "ranking": True,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
        },
        "kto_en_demo": {
            "file_name": "kto_en_demo.json",
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "kto_tag": "label"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
        },
        "qa": {"file_name": "qa.json", "columns": {"prompt": "question", "query": "context", "response": "answer"}},
        "thumbs": {
            "file_name": "thumbs.json",
            "formatting": "sharegpt",
            "columns": {"messages": "dialog", "kto_tag": "thumb"},
            "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "customer", "assistant_tag": "agent"},
        },
    }
    path = tmp_path / "dataset_info.json"
    path.write_text(json.dumps(info, indent=2))
    return path


def test_a_llamafactory_registry_validates_unchanged(capsys, registry):
    code, out, err = run(capsys, "data", "validate", str(registry), "--json")
    assert code == 0, err
    found = {Path(r["path"]).stem: (r["format"], r["total"], r["valid"]) for r in json.loads(out)}
    assert found == {
        "identity": ("alpaca", 91, 91),
        "glaive_toolcall_en_demo": ("sharegpt", 300, 300),
        "dpo_en_demo": ("dpo", 300, 300),
        "kto_en_demo": ("sharegpt", 300, 300),
        "qa": ("alpaca", 40, 40),
        "thumbs": ("sharegpt", 30, 30),
    }
    code, out, _ = run(capsys, "data", "validate", "qa", "--dataset-info", str(registry))
    assert code == 0 and "format: alpaca  rows: 40  valid: 40" in out
    kto = load_conversations("thumbs", dataset_info=registry)
    assert [c.task for c in kto] == ["kto"] * 30 and kto[0].messages[0].role == "user"
    code, _, err = run(capsys, "data", "validate", "nope", "--dataset-info", str(registry))
    assert code == 1 and "nope: no such file, and not a dataset of" in err and "it lists: dpo_en_demo" in err


def test_the_glaive_tools_survive_convert_and_preview(capsys, tmp_path, shared_data):
    source = shared_data / "glaive_toolcall_en_demo.json"
    rows = json.loads(source.read_text())
    out = tmp_path / "g.jsonl"
    code, text, _ = run(capsys, "data", "convert", str(source), str(out), "--to", "messages")
    assert code == 0 and "rows in 300, out 300, rejected 0" in text
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(1 for r in written if "tools" in r) == sum(1 for r in rows if "tools" in r) == 300
    assert [r["tools"] for r in written] == [json.loads(r["tools"]) for r in rows]  # OpenAI's form: JSON values
    calls = [m for r in written for m in r["messages"] if m.get("tool_calls")]
    assert len(calls) == sum(1 for r in rows for t in r["conversations"] if t["from"] == "function_call")
    assert calls[0]["tool_calls"][0]["function"]["name"] == "search_recipes"
    code, text, _ = run(capsys, "data", "stats", str(out), "--json")
    assert json.loads(text)["with_tool_definitions"] == sum(1 for r in rows if json.loads(r["tools"]))
    code, text, _ = run(capsys, "data", "preview", str(out), "-n", "1")
    assert "tools" in text and "search_recipes" in text


def test_preview_renders_the_tools_into_the_training_text(capsys, shared_data, smollm2_dir):
    code, text, _ = run(
        capsys,
        "data",
        "preview",
        str(shared_data / "glaive_toolcall_en_demo.json"),
        "-n",
        "1",
        "--template",
        str(smollm2_dir),
    )
    assert code == 0
    text = " ".join(text.replace("│", " ").split())  # the panel wraps long lines
    assert "<tools>" in text and "Search for recipes based on ingredients" in text
    assert (
        '<tool_call> {"name": "search_recipes", "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]}}'
        in text
    )


def test_a_conversion_that_would_drop_a_value_reports_the_row(capsys, tmp_path):
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
                {"role": "assistant", "content": "It is 18 C."},
            ],
            "source": "crm-export",
        },
        {
            "messages": [
                {"role": "user", "content": "Hello there"},
                {"role": "assistant", "content": "Hi, how can I help?"},
            ],
            "source": "crm-export",
            "id": 7,
        },
    ]
    path = write(tmp_path / "calls.json", rows)
    code, out, err = run(capsys, "data", "convert", str(path), str(tmp_path / "s.json"), "--to", "sharegpt")
    assert code == 1 and "rows in 2, out 1, rejected 1" in out
    assert "rejected row 0: cannot be written as sharegpt without losing messages[1].tool_calls[0].id" in err
    (kept,) = json.loads((tmp_path / "s.json").read_text())
    assert kept["source"] == "crm-export" and kept["id"] == 7  # columns the layout does not know carry over
    rejected = [json.loads(line) for line in (tmp_path / "s.json.rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["row"] == rows[0]
    code, out, _ = run(capsys, "data", "convert", str(path), str(tmp_path / "m.json"), "--to", "messages")
    assert code == 0 and json.loads((tmp_path / "m.json").read_text()) == rows  # same layout: as it was


def test_a_registry_entry_may_name_a_folder_of_files(capsys, tmp_path):
    folder = tmp_path / "support"
    folder.mkdir()
    row = {"instruction": "Where is my order?", "output": "It ships tomorrow."}
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    (folder / "test.jsonl").write_text(json.dumps(row) + "\n")
    registry = tmp_path / "dataset_info.json"
    registry.write_text(json.dumps({"support": {"file_name": "support"}}))
    code, out, _ = run(capsys, "data", "validate", "support", "--dataset-info", str(registry))
    assert code == 0 and "rows: 2  valid: 2" in out  # the train split
    code, out, _ = run(capsys, "data", "validate", f"{folder}:test")
    assert code == 0 and "rows: 1  valid: 1" in out
