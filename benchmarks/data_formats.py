"""Validation throughput by file kind: the same 200k Alpaca rows as JSON Lines, Parquet, Arrow and CSV.

Generates the rows (with a few invalid ones), writes them once per kind (JSON Lines by the standard
library, Parquet and Arrow by pyarrow, CSV by the csv module), then validates each file with
``DataValidator().validate_file`` as ``largeforge data validate`` does, in rounds interleaving the
kinds so load changes hit every kind alike; the best round counts. JSON Lines is timed twice: as
users get it (one process per 16 MiB part, up to one per CPU) and held to one process, the fair
match for the other kinds, which are read batch by batch in one process. Every kind must report
the same invalid rows. Writes ``benchmarks/results/data_formats.json``.

    python benchmarks/data_formats.py [--rows 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from data_validate import make_alpaca  # the same 200k Alpaca rows that benchmark validates
from largeforge.data import DataValidator, parts

RESULTS = Path(__file__).parent / "results" / "data_formats.json"


def write_files(rows: list[dict[str, Any]], folder: Path) -> dict[str, Path]:
    files = {
        "jsonl": folder / "rows.jsonl",
        "parquet": folder / "rows.parquet",
        "arrow": folder / "rows.arrow",
        "csv": folder / "rows.csv",
    }
    files["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, files["parquet"], row_group_size=50_000)
    feather.write_feather(table, files["arrow"])
    with files["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return files


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.rows
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpus": parts.available_cpus(),
            "uptime_before": uptime(),
            "load_average_before": os.getloadavg(),
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(make_alpaca(n, random.Random(0)), Path(tmp))
        contenders = {
            "jsonl": (files["jsonl"], DataValidator()),
            "jsonl_one_process": (files["jsonl"], DataValidator(workers=1)),
            "parquet": (files["parquet"], DataValidator()),
            "arrow": (files["arrow"], DataValidator()),
            "csv": (files["csv"], DataValidator()),
        }
        best = {key: float("inf") for key in contenders}
        invalid: dict[str, int] = {}
        for _ in range(args.repeats):
            for key, (path, validator) in contenders.items():
                start = time.perf_counter()
                report = validator.validate_file(path)
                best[key] = min(best[key], time.perf_counter() - start)
                assert report.total == n and report.format == "alpaca", (key, report.total, report.format)
                invalid[key] = report.invalid
        assert len(set(invalid.values())) == 1, invalid  # every kind found the same invalid rows
        results["rows"] = n
        results["invalid_rows"] = invalid["jsonl"]
        results["file_mb"] = {kind: round(path.stat().st_size / 1e6, 1) for kind, path in files.items()}
        results["jsonl_workers"] = parts.default_workers(files["jsonl"].stat().st_size)
        results["rows_per_s"] = {key: round(n / seconds) for key, seconds in best.items()}
        results["parquet_vs_jsonl"] = round(best["jsonl"] / best["parquet"], 3)
        results["parquet_vs_jsonl_one_process"] = round(best["jsonl_one_process"] / best["parquet"], 3)
    results["machine"]["uptime_after"] = uptime()
    results["machine"]["load_average_after"] = os.getloadavg()
    for key, rate in results["rows_per_s"].items():
        print(f"{key:18} {rate:>12,} rows/s")
    print(f"parquet / jsonl: {results['parquet_vs_jsonl']}  (one process: {results['parquet_vs_jsonl_one_process']})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
