"""The real data samples (``../shared/data/real``) written as every kind of file LargeForge reads,
by other tools than LargeForge's own writers: JSON Lines by the standard library, Parquet and
Arrow by pyarrow, CSV by the csv module (flat samples only), ``save_to_disk`` folders by
``datasets``. Kinds whose library is missing are left out (largeforge-core alone has neither)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

#: sample → (the layout LargeForge detects, the training method it is for, whether it is flat)
SAMPLES: dict[str, tuple[str, str, bool]] = {
    "alpaca_en_demo": ("alpaca", "sft", True),
    "identity": ("alpaca", "sft", True),
    "glaive_toolcall_en_demo": ("sharegpt", "sft", False),
    "dpo_en_demo": ("dpo", "dpo", False),
    "kto_en_demo": ("messages", "kto", False),
}
KINDS = ("json", "jsonl", "parquet", "arrow", "csv", "save_to_disk")


def available(kind: str) -> bool:
    """Whether the library that writes ``kind`` is installed."""
    needs = {"parquet": "pyarrow", "arrow": "pyarrow", "save_to_disk": "datasets"}.get(kind)
    return needs is None or importlib.util.find_spec(needs) is not None


def kinds_of(sample: str) -> list[str]:
    """The file kinds a sample is written as (CSV only where its rows are flat)."""
    return [k for k in KINDS if k != "csv" or SAMPLES[sample][2]]


def write_as(rows: list[dict[str, Any]], kind: str, target: Path) -> Path:
    """``rows`` as a file (or ``save_to_disk`` folder) of ``kind`` at ``target`` (suffix added)."""
    if kind == "json":
        path = target.with_suffix(".json")
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif kind == "jsonl":
        path = target.with_suffix(".jsonl")
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif kind in ("parquet", "arrow"):
        import pyarrow as pa
        import pyarrow.feather as feather
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        path = target.with_suffix(f".{kind}")
        if kind == "parquet":
            pq.write_table(table, path, row_group_size=max(1, len(rows) // 3))  # several row groups
        else:
            feather.write_feather(table, path)
    elif kind == "csv":
        path = target.with_suffix(".csv")
        names = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, names)
            writer.writeheader()
            writer.writerows(rows)
    elif kind == "save_to_disk":
        import datasets

        path = target.with_name(target.name + "_saved")
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    else:
        raise ValueError(kind)
    return path


def sample_rows(shared: Path, sample: str) -> list[dict[str, Any]]:
    return json.loads((shared / f"{sample}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]
