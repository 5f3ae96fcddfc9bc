"""GGUF export for CPUs: llama.cpp's own converter and quantizer, not a hand-written writer.

``convert_hf_to_gguf.py`` (from the llama.cpp tree ``scripts/install_llamacpp.sh`` builds, put
beside it) turns a Hugging Face model directory into an f16 GGUF (:mod:`.convert`);
``llama-quantize`` turns that into the asked type (q8_0, q4_k_m, q5_k_m, …; :mod:`.recipe`).
The report compares the file with the f16 GGUF and, on held-out texts, the perplexity llama.cpp
itself computes for both (:mod:`.perplexity`; :mod:`.quantizer` runs it all).

Types of 5 bits or fewer get llama.cpp's importance matrix by default (``llama-imatrix`` on
calibration text, then ``llama-quantize --imatrix``): the ``--calibration`` source, the texts the
caller passes, or the chat conversations shipped in ``data/calibration_chat.jsonl``, rendered with
the model's chat template. Where those programs are missing, the file is made without one (a
one-line warning says how to get them).

LoRA adapters go through ``convert_lora_to_gguf.py`` (:mod:`.adapter`): one GGUF adapter per
expert, applied per request on one base model by the ``llamacpp`` backend. Where the tools are
found: :mod:`.toolchain`.
"""

from largeforge.models.paths import llama_cpp_home
from largeforge_quant.gguf.adapter import convert_adapter
from largeforge_quant.gguf.convert import byte_level_view, convert_model, gguf_output_file
from largeforge_quant.gguf.perplexity import gguf_perplexity, tensor_type_counts
from largeforge_quant.gguf.quantizer import REPORT_SUFFIX, GGUFQuantizer, GGUFReport
from largeforge_quant.gguf.recipe import (
    BUILTIN_CALIBRATION,
    CONVERTER_TYPES,
    GGUF_TYPES,
    IMATRIX_TYPES,
    ROW_FALLBACKS,
    ROW_OUTPUT_TYPE,
    ROW_RECIPE_TYPES,
    TENSOR_TYPES,
    check_tensor_type,
    check_type,
    compute_imatrix,
    quantize_file,
    row_fallback_types,
    row_output_type,
)
from largeforge_quant.gguf.toolchain import (
    BINDINGS_HINT,
    SETUP_HINT,
    TOOLS_HINT,
    GGUFExportError,
    converter_script,
    find_tool,
    import_llama_cpp,
)

__all__ = [
    "BINDINGS_HINT",
    "BUILTIN_CALIBRATION",
    "CONVERTER_TYPES",
    "GGUF_TYPES",
    "IMATRIX_TYPES",
    "REPORT_SUFFIX",
    "ROW_FALLBACKS",
    "ROW_OUTPUT_TYPE",
    "ROW_RECIPE_TYPES",
    "SETUP_HINT",
    "TENSOR_TYPES",
    "TOOLS_HINT",
    "GGUFExportError",
    "GGUFQuantizer",
    "GGUFReport",
    "byte_level_view",
    "check_tensor_type",
    "check_type",
    "compute_imatrix",
    "convert_adapter",
    "convert_model",
    "converter_script",
    "find_tool",
    "gguf_output_file",
    "gguf_perplexity",
    "import_llama_cpp",
    "llama_cpp_home",
    "quantize_file",
    "row_fallback_types",
    "row_output_type",
    "tensor_type_counts",
]
