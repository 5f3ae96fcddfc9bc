"""Stop sequences, incremental detokenization and sampling, on their own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from largeforge_serve.engines.base import SamplingParams
from largeforge_serve.engines.detok import IncrementalDetokenizer, StopMatcher
from largeforge_serve.engines.sampling import Sampler


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    out.append(matcher.flush())
    return "".join(out), False


def test_stop_sequence_split_across_pieces_never_leaks() -> None:
    matcher = StopMatcher(("###",))
    emitted = []
    for piece in ["Hello #", "#", "# world"]:
        text, stopped = matcher.feed(piece)
        emitted.append(text)
    assert "".join(emitted) == "Hello "
    assert stopped
    assert emitted[1] == ""  # "##" was held back: it may start the stop sequence


def test_held_text_is_released_when_it_turns_out_not_to_be_a_stop() -> None:
    assert feed_all(StopMatcher(("END",)), ["a E", "N", "x b"]) == ("a ENx b", False)
    assert feed_all(StopMatcher(("END",)), ["tail E"]) == ("tail E", False)  # flushed at the end


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(StopMatcher(("world", "lo")), ["hello world"]) == ("hel", True)
    assert feed_all(StopMatcher(()), ["no", " stops"]) == ("no stops", False)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("text", ["The capital of France is Paris.", "naïve café — 東京 🎉 done", "  two  spaces"])
def test_incremental_decoding_rebuilds_the_text(tokenizer, text: str) -> None:  # type: ignore[no-untyped-def]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = IncrementalDetokenizer(tokenizer)
    pieces = [detok.add(i) for i in ids]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)  # half characters are held back


def test_greedy_and_top_k_1_pick_the_argmax() -> None:
    logits = torch.tensor([0.1, 3.0, 2.9, -1.0])
    assert Sampler(SamplingParams(temperature=0))(logits, []) == 1
    assert Sampler(SamplingParams(temperature=1.5, top_k=1, seed=3))(logits, []) == 1


def test_seeded_sampling_is_reproducible_and_top_p_limits_choices() -> None:
    logits = torch.randn(500, generator=torch.Generator().manual_seed(0))
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, seed=42)
    first, second = Sampler(params), Sampler(params)
    draws = [first(logits, []) for _ in range(20)]
    assert draws == [second(logits, []) for _ in range(20)]
    assert len(set(draws)) > 1
    nucleus = Sampler(SamplingParams(temperature=1.0, top_k=0, top_p=0.05, seed=1))
    best = set(torch.topk(logits, 5).indices.tolist())
    assert {nucleus(logits, []) for _ in range(30)} <= best


def test_repetition_penalty_steers_away_from_seen_tokens() -> None:
    logits = torch.tensor([2.0, 1.9, -5.0])
    assert Sampler(SamplingParams(temperature=0))(logits, [0]) == 0
    assert Sampler(SamplingParams(temperature=0, repetition_penalty=1.2))(logits, [0]) == 1
