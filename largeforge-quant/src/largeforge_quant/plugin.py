"""Entry point of the quant plugin: registers the quantizers and ``largeforge quant``.

Nothing heavy is imported here; torch and llm-compressor load only when a quantizer runs.
"""

from __future__ import annotations

from typing import Any

import typer

from largeforge import hookimpl


@hookimpl
def register_quantizers(register: Any) -> None:
    from largeforge_quant.awq import AWQQuantizer
    from largeforge_quant.gguf import GGUFQuantizer
    from largeforge_quant.gptq import GPTQQuantizer

    register("awq", AWQQuantizer)
    register("gptq", GPTQQuantizer)
    register("gguf", GGUFQuantizer)  # needs llama.cpp (checked before any work, naming the extra)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    from largeforge_quant.cli import build

    app.add_typer(build(), name="quant")
