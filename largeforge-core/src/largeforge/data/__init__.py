"""The data layer: formats, detection, streaming loading, validation, conversion, processing."""

from largeforge.data.conversation import Conversation, Message
from largeforge.data.detect import detect_file_format, detect_format, get_format
from largeforge.data.loader import (
    AlpacaLoader,
    DatasetFactory,
    DPOLoader,
    ShareGPTLoader,
    conversations_to_dataset,
    load_conversations,
)
from largeforge.data.processors import ChatFormatter, TextProcessor
from largeforge.data.validator import DataValidator, RowIssue, ValidationReport

__all__ = [
    "AlpacaLoader",
    "ChatFormatter",
    "Conversation",
    "DPOLoader",
    "DataValidator",
    "DatasetFactory",
    "Message",
    "RowIssue",
    "ShareGPTLoader",
    "TextProcessor",
    "ValidationReport",
    "conversations_to_dataset",
    "detect_file_format",
    "detect_format",
    "get_format",
    "load_conversations",
]
