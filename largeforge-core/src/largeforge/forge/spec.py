"""The pipeline file of ``largeforge forge``: a base model, experts with their data and stages,
how to serve them and the router in front.

Errors name the file, the line and the field::

    pipeline.yaml:14: experts[1].sft.learning_rate = -1 is invalid: expected float > 0 ...
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from largeforge.config.base import BaseConfig
from largeforge.config.inference import ExpertName, RouterConfig
from largeforge.errors import ConfigError
from largeforge.models import DEFAULT_MODEL

StageOptions = dict[str, Any]


#: Where a layout's fields are in the data: ``{instruction: question, role: speaker}`` (see
#: :mod:`largeforge.data.columns`).
Columns = dict[str, str]


class DPOStage(BaseConfig):
    """Preference stage: its own data file plus DPOConfig overrides (``align: {method: dpo}``
    spelled the way pipelines wrote it first)."""

    data: str
    format: str = "auto"
    columns: Columns | None = None
    trainer: str = "dpo"
    options: StageOptions = msgspec.field(default_factory=dict)


class AlignStage(BaseConfig):
    """The post-SFT stage (axolotl's ``rl:``, LLaMA-Factory's ``stage:``): any registered trainer
    (``dpo``, ``kto``, ``orpo``, ``simpo``, ``cpo``, a plugin's) on its own data, with options
    validated by that trainer's config class."""

    method: Annotated[str, Meta(min_length=1)]
    data: str
    format: str = "auto"
    columns: Columns | None = None
    options: StageOptions = msgspec.field(default_factory=dict)


class QuantizeStage(BaseConfig):
    """Quantization stage: a registered quantizer (``gptq``, ``awq``, a plugin's) and options."""

    method: str = "gptq"
    bits: Annotated[int, Meta(ge=2, le=8)] = 4
    num_samples: Annotated[int, Meta(ge=1, le=4096)] = 64
    #: The GGUF type of ``method: gguf`` (``q4_k_m``, ``q8_0``, …); passed to the quantizer as ``type``.
    type: str | None = None
    options: StageOptions = msgspec.field(default_factory=dict)


class ExpertSpec(BaseConfig):
    """One expert: its SFT data (a file of any kind the data readers take, a ``datasets`` folder, a
    hub id, or a name in the pipeline's ``dataset_info``), an optional alignment stage (``align``,
    or ``dpo``), merge, quantize, and what the router knows."""

    name: ExpertName
    data: str
    format: str = "auto"
    columns: Columns | None = None
    #: The chat template its training stages render with (a Jinja file or text; the pipeline's by default).
    chat_template: str | None = None
    description: str = ""
    keywords: list[str] = msgspec.field(default_factory=list)
    #: Example queries for this expert; they train the router's neural classifier.
    queries: list[str] = msgspec.field(default_factory=list)
    trainer: str = "sft"
    sft: StageOptions = msgspec.field(default_factory=dict)
    lora: StageOptions | None = None
    align: AlignStage | None = None
    dpo: DPOStage | None = None
    merge: bool = True
    quantize: QuantizeStage | None = None
    #: Eval stage options (:class:`largeforge.config.evaluation.EvalConfig`); ``enabled: false`` skips it.
    eval: StageOptions = msgspec.field(default_factory=dict)

    def check(self) -> None:
        if self.align is not None and self.dpo is not None:
            raise ValueError(
                "align and dpo are both set: give one post-SFT stage (dpo: {...} is align: {method: dpo, ...})"
            )

    @property
    def alignment(self) -> tuple[AlignStage, str] | None:
        """The post-SFT stage whichever way it is spelled, and the key it was given under."""
        if self.dpo is not None:
            return AlignStage(
                method=self.dpo.trainer,
                data=self.dpo.data,
                format=self.dpo.format,
                columns=self.dpo.columns,
                options=self.dpo.options,
            ), "dpo"
        return (self.align, "align") if self.align is not None else None


class Defaults(BaseConfig):
    """Options shared by every expert (an expert's own options win)."""

    sft: StageOptions = msgspec.field(default_factory=dict)
    #: Options of every ``align`` stage, whatever its method (an expert's own options win).
    align: StageOptions = msgspec.field(default_factory=dict)
    #: Options of the stages whose method is ``dpo`` (over ``align``'s).
    dpo: StageOptions = msgspec.field(default_factory=dict)
    #: LoRA settings; ``null`` trains every weight (full fine-tuning).
    lora: StageOptions | None = msgspec.field(default_factory=dict)
    quantize: StageOptions = msgspec.field(default_factory=dict)
    eval: StageOptions = msgspec.field(default_factory=dict)


class ServeSpec(BaseConfig):
    """How ``--up`` serves the experts: a server each, or LoRA adapters on one base model."""

    mode: Literal["per-expert", "adapters"] = "per-expert"
    host: str = "127.0.0.1"
    base_port: Annotated[int, Meta(ge=1024, le=65000)] = 8101
    backend: Literal["auto", "transformers", "vllm", "llamacpp"] = "auto"
    max_concurrency: Annotated[int, Meta(ge=1, le=256)] = 4
    #: llamacpp: the GGUF type a served model that is not GGUF is converted to (adapters stay f16).
    #: f16 keeps the model's answers; q8_0 halves its memory (SmolLM2's first token can flip).
    gguf_type: str = "f16"
    #: The plugin that starts the expert servers (a registered ``experts`` forge service); needed
    #: only when several are installed (largeforge-serve registers ``serve``).
    launcher: str | None = None


class RouterSpec(BaseConfig):
    """The router in front of the experts."""

    port: Annotated[int, Meta(ge=1024, le=65535)] = 8100
    classifier: RouterConfig = msgspec.field(default_factory=RouterConfig)
    #: Extra labelled queries (JSONL of {"query", "expert"}) besides each expert's ``queries``.
    training_data: str | None = None
    #: The plugin that starts the router (a registered ``router`` forge service); needed only when
    #: several are installed (largeforge-router registers ``router``).
    launcher: str | None = None


class PipelineSpec(BaseConfig):
    """A whole forge: data → SFT → align (DPO, KTO, ORPO, …) → merge → quantize → serve → route."""

    name: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    experts: Annotated[list[ExpertSpec], Meta(min_length=1)]
    base_model: str = DEFAULT_MODEL
    workdir: str | None = None
    #: A LLaMA-Factory ``dataset_info.json`` (relative to this file): ``data`` may name its datasets.
    dataset_info: str | None = None
    #: The chat template every training stage renders with (a Jinja file or text), unless an expert sets its own.
    chat_template: str | None = None
    defaults: Defaults = msgspec.field(default_factory=Defaults)
    serve: ServeSpec = msgspec.field(default_factory=ServeSpec)
    router: RouterSpec = msgspec.field(default_factory=RouterSpec)
    #: Queries ``--ask`` sends through the router when none are given on the command line.
    demo_queries: list[str] = msgspec.field(default_factory=list)

    def check(self) -> None:
        names = [e.name for e in self.experts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"expert names must be unique: {', '.join(dupes)} repeated")
        fallback = self.router.classifier.fallback_expert
        if len(self.experts) > 1 and fallback not in names:
            raise ValueError(
                f"router.classifier.fallback_expert {fallback!r} is not an expert (experts: {', '.join(names)})"
            )


class Pipeline:
    """A loaded pipeline: the validated spec, where it came from, and its YAML line numbers."""

    def __init__(self, spec: PipelineSpec, path: Path, lines: dict[tuple[str | int, ...], int]) -> None:
        self.spec = spec
        self.path = path
        self.lines = lines

    @property
    def root(self) -> Path:
        """Directory that relative paths in the file are relative to."""
        return self.path.parent

    @property
    def workdir(self) -> Path:
        return self.resolve(self.spec.workdir or f"forge-runs/{self.spec.name}")

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return (path if path.is_absolute() else self.root / path).resolve()

    def where(self, *tokens: str | int) -> str:
        """``file:line`` of a field (the closest enclosing field that has a line)."""
        return line_of(self.path, self.lines, list(tokens))


def _yaml_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each field path of a YAML document to its 1-based line number."""
    import yaml

    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


_PATH_TOKEN = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+)\]")


def field_tokens(field_path: str) -> list[str | int]:
    """``experts[1].sft`` → ``["experts", 1, "sft"]``."""
    return [name or int(index) for name, index in _PATH_TOKEN.findall(field_path)]


def load_pipeline(path: str | Path) -> Pipeline:
    """Parse and validate a pipeline file; errors are one line naming ``file:line`` and the field."""
    from largeforge.config.base import load_config_file

    path = Path(path)
    data = load_config_file(path)
    lines = _yaml_lines(path.read_text(encoding="utf-8")) if path.suffix.lower() in (".yaml", ".yml") else {}
    try:
        spec = PipelineSpec.from_dict(data)
    except ConfigError as exc:
        message = str(exc)
        field = re.split(r"[ :=]", message, maxsplit=1)[0]
        raise ConfigError(f"{line_of(path, lines, field_tokens(field))}: {message}") from None
    return Pipeline(spec, path.resolve(), lines)


def line_of(path: Path, lines: dict[tuple[str | int, ...], int], tokens: list[str | int]) -> str:
    """``file:line`` of a field path (or of its closest ancestor with a line)."""
    key = tuple(tokens)
    while key and key not in lines:
        key = key[:-1]
    line = lines.get(key)
    return f"{path}:{line}" if line else str(path)
