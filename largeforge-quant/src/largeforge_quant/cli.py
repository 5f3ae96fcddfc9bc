"""``largeforge quant awq|gptq`` (spec 7.4): quantize a model, show progress, print the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from largeforge.cli.table_command import Param, table_command
from largeforge.errors import ConfigError

SECTION = "quant"


def _config(ctx: typer.Context, method: str, config_file: Optional[Path], flags: dict[str, Any]) -> Any:
    """Global ``--config`` section ``quant``, then the command's ``--config`` file, then flags."""
    from largeforge.cli.state import get_state
    from largeforge.config import load_config_file
    from largeforge_quant.config import QuantizationConfig

    data: dict[str, Any] = dict(get_state(ctx).section(SECTION))
    if config_file is not None:
        file_values = load_config_file(config_file)
        if not isinstance(file_values, dict):
            raise ConfigError(f"{config_file}: expected a mapping of QuantizationConfig fields")
        data.update(file_values)
    data["method"] = method
    return QuantizationConfig.from_dict(data, source=str(config_file) if config_file else None).merged(**flags)


def _run(ctx: typer.Context, method: str, **options: Any) -> None:
    """Quantize with ``method`` (a :data:`CALIBRATED` command's options), then print the report."""
    from largeforge.cli.output import console, err_console, print_success
    from largeforge.utils.logging import get_logger
    from largeforge_quant.report import REPORT_FILE, render_table
    from largeforge_quant.run import run_quantization

    model, output = options.pop("model"), options.pop("output")
    eval_samples, overwrite = options.pop("eval_samples"), options.pop("overwrite")
    config_file = options.pop("config")
    options["num_samples"] = options.pop("samples")
    config = _config(ctx, method, config_file, options)
    log = get_logger("largeforge_quant")
    with err_console.status(f"{config.label}: starting") as status:

        def progress(message: str) -> None:
            status.update(f"{config.label}: {message}")
            log.debug(message)

        report = run_quantization(
            model, output, config, eval_samples=eval_samples, overwrite=overwrite, progress=progress
        )
    console.print(render_table(report))
    print_success(f"quantized model in {output} (report: {output / REPORT_FILE})")


# Options shared by the commands (spec 7.4), declared once.
MODEL = typer.Option(..., "--model", "-m", help="Model to quantize: alias, local directory or hub id.")
OUTPUT = typer.Option(..., "--output", "-o", help="Output directory (must not exist, unless --overwrite).")
BITS = typer.Option(None, "--bits", help="Weight bit width (default 4).")
CALIBRATION = typer.Option(
    None,
    "--calibration",
    help="Calibration data: text/JSON/JSONL file, any dataset `largeforge data` reads, a saved dataset "
    "directory, or a dataset name present locally (wikitext, c4).",
)
SAMPLES = typer.Option(None, "--samples", help="Number of calibration samples (default 128).")
GROUP = typer.Option(
    None, "--group-size", help="Weights per scale group; -1 per channel; default: largest of 128/64/32/16 that fits."
)
SEQ = typer.Option(None, "--seq-length", help="Truncate calibration samples to this many tokens (default 512).")
SYM = typer.Option(None, "--symmetric/--asymmetric", help="Symmetric or asymmetric weights (default asymmetric).")
CONFIG = typer.Option(None, "--config", help="QuantizationConfig file (YAML/TOML/JSON); flags override it.")
EVAL = typer.Option(40, "--eval-samples", help="Held-out rows for perplexity before/after (0 to skip).")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output directory.")

#: The options every calibrated method takes before its own ...
LEADING: dict[str, Param] = {
    "model": (str, MODEL),
    "output": (Path, OUTPUT),
    "bits": (Optional[int], BITS),
    "calibration": (Optional[str], CALIBRATION),
    "samples": (Optional[int], SAMPLES),
    "group_size": (Optional[int], GROUP),
    "seq_length": (Optional[int], SEQ),
    "symmetric": (Optional[bool], SYM),
}
#: ... and after them.
TRAILING: dict[str, Param] = {
    "config": (Optional[Path], CONFIG),
    "eval_samples": (int, EVAL),
    "overwrite": (bool, OVERWRITE),
}
#: The calibrated methods (llm-compressor): each command's help line and its own options.
CALIBRATED: dict[str, tuple[str, dict[str, Param]]] = {
    "gptq": (
        "GPTQ: error-correcting quantization with calibration Hessians.",
        {
            "damp_percent": (
                Optional[float],
                typer.Option(None, "--damp-percent", help="Hessian dampening fraction (default 0.01)."),
            ),
            "act_order": (
                Optional[str],
                typer.Option(None, "--act-order", help="static (default), group, weight or none."),
            ),
        },
    ),
    "awq": (
        "AWQ: activation-aware scaling, then 4-bit weights.",
        {
            "duo_scaling": (
                Optional[bool],
                typer.Option(
                    None, "--duo-scaling/--no-duo-scaling", help="Search scales with activations and weights."
                ),
            ),
            "n_grid": (Optional[int], typer.Option(None, "--n-grid", help="Scale search grid points (default 20).")),
        },
    ),
}


def _calibrated_command(method: str, help: str, own: dict[str, Param]) -> Any:
    """The ``quant <method>`` command: the shared options around the method's own."""
    return table_command(lambda ctx, **options: _run(ctx, method, **options), {**LEADING, **own, **TRAILING}, help)


def build() -> typer.Typer:
    """The ``quant`` command group."""
    group = typer.Typer(
        help="Quantize models: 4-bit AWQ/GPTQ (llm-compressor, GPUs) or GGUF (llama.cpp, CPUs).", no_args_is_help=True
    )
    for method, (help, own) in CALIBRATED.items():
        group.command(method)(_calibrated_command(method, help, own))

    @group.command("gguf")
    def gguf(
        model: Optional[str] = typer.Option(
            None, "--model", "-m", help="Model to export: alias, local directory or hub id."
        ),
        output: Path = typer.Option(..., "--output", "-o", help="A .gguf file, or a directory that gets model.gguf."),
        gguf_type: Optional[str] = typer.Option(
            None,
            "--type",
            "-t",
            help="f16, bf16, f32, q8_0, q6_k, q5_k_m, q4_k_m, q4_0, … (default q4_k_m; f16 for --adapter).",
        ),
        adapter: Optional[Path] = typer.Option(
            None, "--adapter", help="Convert this PEFT LoRA adapter to a GGUF adapter instead of a model."
        ),
        base: Optional[str] = typer.Option(
            None, "--base", help="The adapter's base model (default: the one its config names)."
        ),
        calibration: Optional[str] = typer.Option(
            None,
            "--calibration",
            help="Calibration text for the importance matrix, and its held-out rows for the perplexity "
            "check: any source `quant gptq` takes (default: conversations LargeForge ships, "
            "and no perplexity check).",
        ),
        samples: int = typer.Option(128, "--samples", help="Calibration rows for the importance matrix."),
        imatrix: str = typer.Option(
            "auto",
            "--imatrix",
            help="auto (for types of 5 bits or fewer: an importance matrix from --calibration, or from the "
            "conversations LargeForge ships), none, or an imatrix file from llama-imatrix.",
        ),
        eval_samples: int = EVAL,
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: all)."),
        output_tensor_type: Optional[str] = typer.Option(
            None, "--output-tensor-type", help="Type of the output (or tied embedding) tensor: q5_0, q8_0…"
        ),
        token_embedding_type: Optional[str] = typer.Option(
            None, "--token-embedding-type", help="Type of the token embedding tensor."
        ),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """GGUF for llama.cpp (CPU serving): llama.cpp's converter and quantizer, with a size and
        held-out perplexity report against the f16 GGUF."""
        from largeforge.cli.output import console, err_console, print_success
        from largeforge_quant.gguf import GGUFQuantizer, check_type, convert_adapter

        if adapter is not None:
            outtype = gguf_type or "f16"
            with err_console.status(f"converting adapter {adapter} to GGUF ({outtype})"):
                path = convert_adapter(adapter, output, base=base, outtype=outtype, overwrite=overwrite)
            print_success(f"GGUF LoRA adapter in {path}")
            return
        if model is None:
            raise ConfigError("quant gguf needs --model (or --adapter to convert a LoRA adapter)")
        gguf_type = check_type(gguf_type or "q4_k_m")
        quantizer = GGUFQuantizer(
            model,
            type=gguf_type,
            imatrix=imatrix,
            eval_samples=eval_samples,
            threads=threads,
            output_tensor_type=output_tensor_type,
            token_embedding_type=token_embedding_type,
        )
        target = quantizer.check_ready(output, overwrite)
        rows, heldout = gguf_calibration(quantizer, calibration, samples, eval_samples)
        with err_console.status(f"GGUF {gguf_type}: starting") as status:
            report = quantizer.quantize(
                rows,
                output,
                overwrite=overwrite,
                heldout=heldout,
                progress=lambda message: status.update(f"GGUF {gguf_type}: {message}"),
            )
        console.print(render_gguf_table(report))
        print_success(f"GGUF model in {target} (report: {target}.report.json)")

    return group


def gguf_calibration(
    quantizer: Any, source: Optional[str], samples: int, eval_samples: int
) -> tuple[list[Any], list[Any]]:
    """(calibration rows, disjoint held-out rows) of ``source`` for ``quant gguf``, split as
    ``quant gptq`` splits it. Without a source, the importance matrix is calibrated on the
    conversations LargeForge ships and there is no held-out text to measure perplexity on."""
    if source is None:
        if eval_samples:
            from largeforge.utils.logging import get_logger

            get_logger("largeforge_quant").warning(
                "no held-out perplexity: pass --calibration (e.g. the expert's data) to measure it"
            )
        return [], []
    from transformers import AutoTokenizer

    from largeforge_quant.calibration import load_calibration_split

    split = load_calibration_split(
        source,
        AutoTokenizer.from_pretrained(quantizer.model_path),
        num_samples=samples,
        num_heldout=eval_samples,
        seq_length=quantizer.seq_length,
    )
    return split.calibration, split.heldout


def render_gguf_table(report: Any) -> Any:
    """A GGUF report as a rich ``Table``: the file and perplexity against the f16 GGUF."""
    from rich.table import Table

    table = Table(title=f"GGUF {report.gguf_type} — {report.base_model}")
    for name, justify in (("", "left"), ("f16 GGUF", "right"), (report.gguf_type, "right"), ("ratio", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_row(
        "file", f"{report.f16_bytes / 1e6:,.1f} MB", f"{report.output_bytes / 1e6:,.1f} MB", f"{report.size_ratio:.3f}×"
    )
    if report.perplexity_ratio is not None:
        table.add_row(
            f"perplexity ({report.heldout_samples} held-out)",
            f"{report.perplexity_f16:.3f}",
            f"{report.perplexity_after:.3f}",
            f"{report.perplexity_ratio:.3f}×",
        )
    table.add_row("time", "", f"{report.seconds:.0f} s", "")
    return table
