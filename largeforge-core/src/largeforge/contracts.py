"""The contracts plugins implement. Small ABCs and Protocols; no heavy imports.

A newcomer finds a capability by walking: contract (here) → registry (``largeforge.plugins``)
→ the plugin that registers an implementation.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from largeforge.config import GenerationConfig, InferenceConfig
    from largeforge.data.conversation import Conversation, Task


class RowError(ValueError):
    """A data row does not fit its format; the message says why (shown with the row number)."""


class DataFormat(abc.ABC):
    """A data format: how rows of one shape decode, validate and map to a :class:`Conversation`.

    ``row_type`` is a :class:`msgspec.Struct` type; rows are decoded into it by msgspec (which
    checks field types fast), then :meth:`to_conversation` applies the semantic rules.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    task: ClassVar[Task] = "sft"
    row_type: ClassVar[type]
    #: Keys whose presence in a row identifies this format (more keys = more specific).
    signature: ClassVar[frozenset[str]] = frozenset()
    #: Fields holding free-form JSON (tool definitions), which columnar files (Parquet, CSV) store
    #: as JSON text: their shape differs from row to row.
    json_fields: ClassVar[frozenset[str]] = frozenset()

    def detect(self, row: Mapping[str, Any]) -> bool:
        """True when ``row`` (a plain dict) looks like this format."""
        return bool(self.signature) and self.signature <= row.keys()

    @abc.abstractmethod
    def to_conversation(self, row: Any) -> Conversation:
        """Convert a decoded row; raise :class:`RowError` with a reason when it is invalid."""

    def check(self, row: Any) -> Sequence[str]:
        """Validate a decoded row without converting it (raise :class:`RowError`) and return
        its reply texts, for warnings. Formats override this when a cheaper check exists:
        validation runs it on every row."""
        return self.to_conversation(row).replies()

    def screen(self, rows: Sequence[Any], *, placeholders: bool = False) -> set[int] | None:
        """Indices of the decoded ``rows`` that need the full :meth:`check`, found column-wise
        (see :mod:`largeforge.data.screen`): every row that could fail it or has a reply of at
        most two characters, and with ``placeholders`` every row that may hold ``{{``. Rows
        left out are taken as valid and unremarkable. ``None`` (the default) checks every row."""
        return None

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        """Write a conversation as a row of this format; :class:`RowError` when it cannot."""
        raise RowError(f"format {self.name!r} cannot be written")

    def uniform_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` (written by :meth:`from_conversation`) with one kind of value per column, for
        columnar files (Parquet, Arrow). A layout that writes a column as a string in one row and
        as a list of messages in another returns every row in its structured spelling."""
        return rows

    @property
    def writable(self) -> bool:
        """Whether :meth:`from_conversation` is implemented (``data convert --to``)."""
        return type(self).from_conversation is not DataFormat.from_conversation


@dataclass
class RowBatch:
    """Consecutive rows of a data source, as plain values (what JSON decodes to).

    ``start`` is the index of the first row; ``lines`` the 1-based line of each row in a
    line-oriented file (JSON Lines), ``None`` where rows are told apart by index; ``errors`` maps
    a position in ``rows`` to why that row could not be read (its value is then ``None``)."""

    start: int
    rows: list[Any]
    lines: list[int] | None = None
    errors: dict[int, str] = field(default_factory=dict)


class DataReader(abc.ABC):
    """A kind of data container (JSON, Parquet, CSV, a ``datasets`` folder, a hub id), registered
    through ``register_readers``: it yields rows as plain values, in batches, so a large file is
    never loaded whole, and writes rows where it can (``data convert``'s output suffix picks it).

    Every reader's rows go to the same formats and validators; a row is named by its line in
    line-oriented files (``lines``) and by its 0-based index everywhere else.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: File name endings this reader claims (lower case, with the dot).
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: The bytes are JSON text: the JSON fast paths (one msgspec call per file) apply.
    json_text: ClassVar[bool] = False
    #: Values arrive as text (CSV): ``"true"`` is read as a boolean where a field wants one.
    text_values: ClassVar[bool] = False

    def claims(self, location: str) -> bool:
        """Whether this reader reads ``location`` (cheap: by its name, or a look at the path)."""
        return Path(location).suffix.lower() in self.suffixes

    def sniff(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` is this reader's (for names without a known suffix)."""
        return False

    @abc.abstractmethod
    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        """The rows of ``location`` in order, about ``size`` at a time; problems with the
        container itself raise :class:`largeforge.errors.DataError` with one line."""

    def local_path(self, location: str) -> Path:
        """The local file or folder holding the data (a hub id resolves to its cached copy)."""
        return Path(location)

    def encode(self, rows: Sequence[Mapping[str, Any]], location: str) -> bytes:
        """``rows`` as the bytes of a file of this kind, to be written at ``location`` (whose name
        may choose a variant: ``.jsonl`` or ``.json``); :class:`largeforge.errors.DataError` (one
        line) when they cannot be."""
        raise NotImplementedError(f"{self.name} files cannot be written")

    @property
    def writable(self) -> bool:
        """Whether :meth:`encode` is implemented."""
        return type(self).encode is not DataReader.encode


@dataclass
class TrainingResult:
    """What a trainer returns (spec 3.1)."""

    loss: float
    metrics: dict[str, float]
    output_dir: str
    training_time: float
    global_step: int = 0


@runtime_checkable
class Trainer(Protocol):
    """A trainer registered through ``register_trainers``.

    The registry holds a class (or factory) called as
    ``factory(model_name, config, lora_config=None, **options)``.
    """

    def train(self, train_dataset: Any, eval_dataset: Any = None) -> TrainingResult:
        """Train and return the result (final loss, metrics, where the output is)."""
        ...

    def save(self, output_dir: str) -> None:
        """Save the model (or adapter) and tokenizer to ``output_dir``."""
        ...


class InferenceEngine(abc.ABC):
    """An inference backend (spec 4.1), registered through ``register_backends``."""

    backend_name: ClassVar[str] = "base"

    def __init__(self, model_path: str, config: InferenceConfig | None = None) -> None:
        from largeforge.config import InferenceConfig

        self.model_path = model_path
        self.config = config or InferenceConfig(model_path=model_path)

    @classmethod
    def auto_rank(cls, model: str, *, adapters: bool = False) -> int | None:
        """How well this backend suits ``model`` (a path, alias or hub id; ``adapters``: LoRA
        adapters served on it) on this machine when the user asks for ``auto``: None when it is
        no candidate, else a rank; :func:`largeforge.backends.auto_backend` takes the highest.
        The transformers engine, the fallback that serves anything, ranks 0."""
        return None

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model into memory."""

    def unload(self) -> None:  # noqa: B027 - optional hook, engines without state need nothing
        """Free the model's memory."""

    @property
    @abc.abstractmethod
    def is_loaded(self) -> bool:
        """Whether :meth:`load` has completed."""

    @abc.abstractmethod
    def generate(self, prompt: str, config: GenerationConfig | None = None) -> str:
        """Generate a completion of ``prompt``."""

    @abc.abstractmethod
    def generate_stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield the completion of ``prompt`` piece by piece."""

    @property
    def model_info(self) -> dict[str, Any]:
        """model_path, backend, device, memory_used and max_length (spec 4.1)."""
        return {
            "model_path": self.model_path,
            "backend": self.backend_name,
            "device": "unknown",
            "memory_used": 0,
            "max_length": self.config.max_model_len,
        }

    def __enter__(self) -> InferenceEngine:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unload()


@dataclass
class ClassificationResult:
    """Which expert a classifier picked, how sure it is, and every expert's score."""

    expert: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    method: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Classifier(Protocol):
    """A router classifier registered through ``register_classifiers``.

    A classifier may also offer ``fitted_threshold`` (a float, or ``None``): the confidence
    threshold it fitted on held-out data, used when the config says ``confidence_threshold: auto``.
    """

    def classify(self, query: str) -> ClassificationResult:
        """Pick an expert for ``query``."""
        ...


@runtime_checkable
class Quantizer(Protocol):
    """A quantizer registered through ``register_quantizers`` (called as
    ``cls(model_path, bits=4, **options)``)."""

    def quantize(self, calibration_data: list[str], output_path: str) -> Any:
        """Quantize with ``calibration_data`` and write the model to ``output_path``."""
        ...


@runtime_checkable
class Metric(Protocol):
    """A task metric registered through ``register_metrics``: one generated answer scored against
    its reference, in [0, 1], higher is better (``exact_match``, ``contains``, ``rouge_l``, yours)."""

    def __call__(self, prediction: str, reference: str) -> float:
        """Score ``prediction`` against ``reference``."""
        ...


@runtime_checkable
class Reward(Protocol):
    """A GRPO reward registered through ``register_rewards``: TRL's reward-function signature.

    Called with the batch's ``completions`` (strings, or message lists for conversational data)
    and, by keyword, ``prompts``, every dataset column (one value per completion) and the settings
    it names as parameters (``format_pattern``, ``reference_column``, keys of ``reward_options``);
    returns one score per completion, ``None`` where it does not apply. Parameters without a
    default that are not settings are columns the data must have (checked before the model
    loads); see :mod:`largeforge.rewards`."""

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float | None]:
        """Score each completion."""
        ...


@dataclass
class EvalExample:
    """One held-out row: the conversation up to the reply (OpenAI-style messages) and the
    reference reply the model is scored against."""

    prompt: list[dict[str, str]]
    reference: str


@dataclass
class ModelEvaluation:
    """What an :class:`Evaluator` measured for one model on a set of :class:`EvalExample`.

    ``loss`` is the mean token cross-entropy of the reference replies given their prompts and
    ``perplexity`` its ``exp``; ``metrics`` are the task metrics averaged over the generated
    answers; ``skipped`` counts rows whose prompt and reply do not fit ``max_length`` tokens.
    ``per_row`` holds one ``{"row", "tokens", "loss", "scores"}`` per scored row (``row``: the
    example's index, ``loss``: the mean over the reply's ``tokens``): the bootstrap intervals and
    the paired comparisons of two models are computed from it.
    """

    model: str
    rows: int
    skipped: int
    max_length: int
    loss: float | None = None
    perplexity: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    per_row: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class Evaluator(Protocol):
    """An evaluator registered through ``register_evaluators``, called as ``factory(model)``
    with anything :func:`largeforge.models.resolve_model` resolves or a LoRA adapter directory."""

    def evaluate(
        self,
        examples: Sequence[EvalExample],
        metrics: Mapping[str, Callable[[str, str], float]],
        *,
        max_new_tokens: int = 64,
        max_length: int | None = None,
    ) -> ModelEvaluation:
        """Score the model on ``examples``: loss on the references, ``metrics`` on greedy answers."""
        ...


class ModelSource(abc.ABC):
    """Resolves a model reference (alias, path, hub id) to a local model directory."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def can_resolve(self, ref: str) -> bool:
        """Whether this source is responsible for ``ref`` (cheap; no loading)."""

    @abc.abstractmethod
    def resolve(self, ref: str) -> Path:
        """A local directory holding the model; raise ``ModelSourceError`` saying what to do."""

    def pull(self, ref: str) -> Path:
        """Fetch or prepare ``ref`` ahead of time (``largeforge models pull``)."""
        return self.resolve(ref)

    def available(self) -> list[dict[str, Any]]:
        """Models this source knows about, for ``largeforge models list``."""
        return []
