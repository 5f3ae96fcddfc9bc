"""The built-in data readers, registered by the core plugin through ``register_readers`` in this
order (a location goes to the first that claims it): files by suffix, ``datasets`` folders,
folders of data files, then hub ids. Each reader imports its heavy library (pyarrow) only when it reads."""

from largeforge.data.readers.arrow import ArrowReader
from largeforge.data.readers.csv import CSVReader, TSVReader
from largeforge.data.readers.folder import FolderReader
from largeforge.data.readers.hub import HubReader
from largeforge.data.readers.json import JSONReader
from largeforge.data.readers.parquet import ParquetReader
from largeforge.data.readers.saved import SavedDatasetReader

BUILTIN_READERS = (
    JSONReader,
    ParquetReader,
    CSVReader,
    TSVReader,
    ArrowReader,
    SavedDatasetReader,
    FolderReader,
    HubReader,
)

__all__ = [
    "BUILTIN_READERS",
    "ArrowReader",
    "CSVReader",
    "FolderReader",
    "HubReader",
    "JSONReader",
    "ParquetReader",
    "SavedDatasetReader",
    "TSVReader",
]
