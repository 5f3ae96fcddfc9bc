"""LargeForge quantization: AWQ and GPTQ 4-bit through llm-compressor (spec 6.1–6.4).

The output is a compressed-tensors checkpoint that transformers and vLLM load on CPU or GPU::

    from largeforge_quant import quantize, load_quantized
    quantize("smollm2-135m-instruct", "out/gptq", method="gptq", calibration_data=texts)
    model = load_quantized("out/gptq")
"""

from largeforge_quant.awq import AWQQuantizer
from largeforge_quant.calibration import get_calibration_data, prepare_calibration_dataset
from largeforge_quant.config import QuantizationConfig
from largeforge_quant.factory import AWQ_AVAILABLE, GPTQ_AVAILABLE, quantize
from largeforge_quant.gptq import GPTQQuantizer
from largeforge_quant.loading import get_quantization_config, load_quantized

__version__ = "0.1.0"

__all__ = [
    "AWQ_AVAILABLE",
    "GPTQ_AVAILABLE",
    "AWQQuantizer",
    "GPTQQuantizer",
    "QuantizationConfig",
    "get_calibration_data",
    "get_quantization_config",
    "load_quantized",
    "prepare_calibration_dataset",
    "quantize",
]
