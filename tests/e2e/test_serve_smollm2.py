"""The embedded SmolLM2-135M-Instruct served by ``largeforge serve inference`` knows Paris."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from largeforge_serve.launch import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_smollm2_answers_paris_streamed_and_not(smollm2_dir: Path) -> None:
    with ServerProcess(["--model", "smollm2-135m-instruct", "--threads", "1"]) as proc:
        client = openai.OpenAI(base_url=proc.url, api_key="-", max_retries=0, timeout=300)
        reply = client.chat.completions.create(
            model="smollm2-135m-instruct", messages=QUESTION, temperature=0, max_tokens=20
        )
        assert "Paris" in (reply.choices[0].message.content or "")
        chunks = client.chat.completions.create(
            model="smollm2-135m-instruct", messages=QUESTION, temperature=0, max_tokens=20, stream=True
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "Paris" in streamed
        assert streamed == reply.choices[0].message.content
