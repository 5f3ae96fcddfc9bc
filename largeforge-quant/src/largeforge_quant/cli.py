"""``largeforge quant awq|gptq`` (spec 7.4): quantize a model, show progress, print the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

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


def _run(ctx: typer.Context, method: str, model: str, output: Path, config_file: Optional[Path],
         eval_samples: int, overwrite: bool, flags: dict[str, Any]) -> None:
    from largeforge.cli.output import console, err_console, print_success
    from largeforge.utils.logging import get_logger
    from largeforge_quant.report import REPORT_FILE, render_table
    from largeforge_quant.run import run_quantization

    config = _config(ctx, method, config_file, flags)
    log = get_logger("largeforge_quant")
    with err_console.status(f"{config.label}: starting") as status:
        def progress(message: str) -> None:
            status.update(f"{config.label}: {message}")
            log.debug(message)

        report = run_quantization(model, output, config, eval_samples=eval_samples, overwrite=overwrite,
                                  progress=progress)
    console.print(render_table(report))
    print_success(f"quantized model in {output} (report: {output / REPORT_FILE})")


# Options shared by both commands (spec 7.4), declared once.
MODEL = typer.Option(..., "--model", "-m", help="Model to quantize: alias, local directory or hub id.")
OUTPUT = typer.Option(..., "--output", "-o", help="Output directory (must not exist, unless --overwrite).")
BITS = typer.Option(None, "--bits", help="Weight bit width (default 4).")
CALIBRATION = typer.Option(
    None, "--calibration",
    help="Calibration data: text/JSON/JSONL file, any dataset `largeforge data` reads, a saved dataset "
         "directory, or a dataset name present locally (wikitext, c4).")
SAMPLES = typer.Option(None, "--samples", help="Number of calibration samples (default 128).")
GROUP = typer.Option(None, "--group-size",
                     help="Weights per scale group; -1 per channel; default: largest of 128/64/32/16 that fits.")
SEQ = typer.Option(None, "--seq-length", help="Truncate calibration samples to this many tokens (default 512).")
SYM = typer.Option(None, "--symmetric/--asymmetric", help="Symmetric or asymmetric weights (default asymmetric).")
CONFIG = typer.Option(None, "--config", help="QuantizationConfig file (YAML/TOML/JSON); flags override it.")
EVAL = typer.Option(40, "--eval-samples", help="Held-out rows for perplexity before/after (0 to skip).")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output directory.")


def build() -> typer.Typer:
    """The ``quant`` command group."""
    group = typer.Typer(help="Quantize models to 4-bit (AWQ, GPTQ) with llm-compressor.", no_args_is_help=True)

    @group.command("gptq")
    def gptq(ctx: typer.Context, model: str = MODEL, output: Path = OUTPUT, bits: Optional[int] = BITS,
             calibration: Optional[str] = CALIBRATION, samples: Optional[int] = SAMPLES,
             group_size: Optional[int] = GROUP, seq_length: Optional[int] = SEQ,
             symmetric: Optional[bool] = SYM,
             damp_percent: Optional[float] = typer.Option(None, "--damp-percent",
                                                          help="Hessian dampening fraction (default 0.01)."),
             act_order: Optional[str] = typer.Option(None, "--act-order",
                                                     help="static (default), group, weight or none."),
             config: Optional[Path] = CONFIG, eval_samples: int = EVAL, overwrite: bool = OVERWRITE) -> None:
        """GPTQ: error-correcting quantization with calibration Hessians."""
        _run(ctx, "gptq", model, output, config, eval_samples, overwrite,
             dict(bits=bits, calibration=calibration, num_samples=samples, group_size=group_size,
                  seq_length=seq_length, symmetric=symmetric, damp_percent=damp_percent, act_order=act_order))

    @group.command("awq")
    def awq(ctx: typer.Context, model: str = MODEL, output: Path = OUTPUT, bits: Optional[int] = BITS,
            calibration: Optional[str] = CALIBRATION, samples: Optional[int] = SAMPLES,
            group_size: Optional[int] = GROUP, seq_length: Optional[int] = SEQ,
            symmetric: Optional[bool] = SYM,
            duo_scaling: Optional[bool] = typer.Option(None, "--duo-scaling/--no-duo-scaling",
                                                       help="Search scales with activations and weights."),
            n_grid: Optional[int] = typer.Option(None, "--n-grid", help="Scale search grid points (default 20)."),
            config: Optional[Path] = CONFIG, eval_samples: int = EVAL, overwrite: bool = OVERWRITE) -> None:
        """AWQ: activation-aware scaling, then 4-bit weights."""
        _run(ctx, "awq", model, output, config, eval_samples, overwrite,
             dict(bits=bits, calibration=calibration, num_samples=samples, group_size=group_size,
                  seq_length=seq_length, symmetric=symmetric, duo_scaling=duo_scaling, n_grid=n_grid))

    return group
