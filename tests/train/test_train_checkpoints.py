"""CheckpointManager: only complete checkpoints count; rotation; standalone save/load."""

from __future__ import annotations

import json

from largeforge_train.checkpoints import CheckpointManager


def _fake(tmp_path, step, complete=True):
    folder = tmp_path / f"checkpoint-{step}"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if complete:
        CheckpointManager(tmp_path).mark_complete(folder)
    return folder


def test_incomplete_checkpoints_are_ignored_and_discarded(tmp_path):
    for step in (2, 10):
        _fake(tmp_path, step)
    half = _fake(tmp_path, 12, complete=False)  # a process killed mid-save
    manager = CheckpointManager(tmp_path, save_total_limit=3)
    assert manager.get_latest_checkpoint() == str(tmp_path / "checkpoint-10")  # numeric, not lexical order
    assert manager.discard_incomplete() == [str(half)]
    assert not half.exists()


def test_rotation_keeps_the_newest(tmp_path):
    for step in (1, 2, 3, 4):
        _fake(tmp_path, step)
    manager = CheckpointManager(tmp_path, save_total_limit=2)
    removed = manager.cleanup_old_checkpoints()
    assert [p.rsplit("-", 1)[1] for p in removed] == ["1", "2"]
    assert [p.rsplit("-", 1)[1] for p in manager.list_checkpoints()] == ["3", "4"]


def test_save_and_load_a_checkpoint(tmp_path, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    manager = CheckpointManager(tmp_path / "run", save_total_limit=1)
    manager.save_checkpoint(model, tokenizer, 5, {"loss": 1.0})
    path = manager.save_checkpoint(model, tokenizer, 7, {"loss": 0.5})
    assert manager.list_checkpoints() == [path]  # limit 1: step 5 rotated out
    assert (tmp_path / "run" / "checkpoint-7" / "model.safetensors").is_file()
    loaded, loaded_tok, state = manager.load_checkpoint(path)
    assert state["global_step"] == 7 and loaded_tok is not None
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, model(ids).logits)
