"""The built-in data formats, registered by the core plugin through ``register_formats``."""

from largeforge.data.formats.alpaca import AlpacaFormat
from largeforge.data.formats.dpo import PreferenceFormat
from largeforge.data.formats.messages import MessagesFormat
from largeforge.data.formats.prompt_completion import PromptCompletionFormat
from largeforge.data.formats.sharegpt import ShareGPTFormat

BUILTIN_FORMATS = (AlpacaFormat, ShareGPTFormat, PreferenceFormat, MessagesFormat, PromptCompletionFormat)

__all__ = [
    "BUILTIN_FORMATS",
    "AlpacaFormat",
    "MessagesFormat",
    "PreferenceFormat",
    "PromptCompletionFormat",
    "ShareGPTFormat",
]
