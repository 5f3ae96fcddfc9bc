"""The forge's eval stage and report on a tiny model: held-out split, an eval file with a row
longer than the context, an expert with no held-out rows, routing, TensorBoard logging, then the
report rendered in headless Chromium (no JavaScript error, every plot drawn, no empty table)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from largeforge.cli.main import main

pytestmark = pytest.mark.e2e

PIPELINE = """\
name: evalreport
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, save_steps: 100, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
  eval: {{max_new_tokens: 4, general_rows: 6, general_max_new_tokens: 4}}
experts:
  - name: alpha
    data: alpha.json
    keywords: [alpha]
    merge: false
    sft: {{report_to: tensorboard}}
    eval: {{val_size: 0.25}}
  - name: beta
    data: beta.jsonl
    keywords: [beta]
    merge: false
    eval: {{data: beta_eval.jsonl}}
  - name: gamma
    data: gamma.json
    keywords: [gamma]
    merge: false
    eval: {{val_size: 0}}
router:
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def chat(question: str, answer: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, str]:
    """The pipeline run once; returns its file and what the run logged on stderr."""
    root = tmp_path_factory.mktemp("forge-report")
    (root / "alpha.json").write_text(
        json.dumps([{"instruction": f"Tell me fact {i} about alpha.", "output": f"Alpha fact {i}."} for i in range(8)])
    )
    (root / "beta.jsonl").write_text("\n".join(chat(f"beta question {i}", f"beta answer {i}") for i in range(4)))
    # One eval row far longer than the tiny model's 2048-token context, one that fits.
    (root / "beta_eval.jsonl").write_text(
        chat("beta question 9", "beta answer 9") + "\n" + chat("beta " * 2100, "beta answer") + "\n"
    )
    (root / "gamma.json").write_text(
        json.dumps([{"instruction": f"gamma question {i}", "output": f"gamma answer {i}"} for i in range(4)])
    )
    path = root / "pipeline.yaml"
    path.write_text(PIPELINE.format(model=tiny_model_dir))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["forge", str(path)]) == 0
    return path, err.getvalue()


def test_eval_stage_measures_base_and_expert_on_heldout_rows(forged):
    path, _ = forged
    figures = json.loads((path.parent / "runs" / "report.json").read_text())
    alpha = figures["experts"]["alpha"]["eval"]
    assert alpha["rows"] == 2 and "2 held-out of 8 rows of alpha.json" in alpha["source"]
    for label in ("base", "expert"):
        measured = alpha["models"][label]
        assert measured["rows"] == 2 and measured["skipped"] == 0 and measured["loss"] > 0
        assert set(measured["metrics"]) == {"exact_match", "contains", "rouge_l"}
    # The held-out rows were left out of training: the SFT stage evaluated on exactly them.
    log = [
        json.loads(line)
        for line in (path.parent / "runs" / "experts" / "alpha" / "sft" / "train_log.jsonl").read_text().splitlines()
    ]
    assert any("eval_loss" in event for event in log)
    # Every figure of every model has its bootstrap interval, and the expert's change a paired one.
    for name in ("alpha", "beta"):
        result = figures["experts"][name]["eval"]
        for measured in [*result["models"].values(), *result["general"]["models"].values()]:
            assert set(measured["intervals"]) == {"loss", "perplexity", *measured["metrics"]}
            for figure, (low, high) in measured["intervals"].items():
                value = measured[figure] if figure in ("loss", "perplexity") else measured["metrics"][figure]
                slack = 1e-3 * (1 + abs(value))  # the figure is rounded, its per-row parts less so
                assert low - slack <= value <= high + slack, (figure, value, low, high)
            assert "per_row" not in measured  # eval.json keeps them; the report does not
        assert set(result["comparison"]) >= {"rows", "loss", "contains"}
        assert result["comparison"]["contains"]["interval"] is not None
    # Two held-out rows are too few to tell: one line saying so and what helps.
    assert any("expert alpha: 2 eval rows" in n and "eval.val_size" in n for n in figures["notes"])
    # Retention: base and expert on the first rows of the shipped general set.
    general = alpha["general"]
    assert general["rows"] == 6 and general["source"].startswith("6 of ")
    assert general["metric"] == "contains" and general["passed"] in (True, False)
    eval_json = json.loads((path.parent / "runs" / "experts" / "alpha" / "eval" / "eval.json").read_text())
    assert len(eval_json["models"]["expert"]["per_row"]) == 2
    # The base model's general answers were scored once for the pipeline, not once per expert.
    assert len(list((path.parent / "runs" / "general-base").glob("*.json"))) == 1
    curves = figures["experts"]["alpha"]["training"]["sft"]
    assert [step for step, _ in curves["loss"]] == [1, 2] and curves["eval_loss"]
    # report_to: tensorboard wrote event files where TRL users look for them.
    assert list((path.parent / "runs" / "experts" / "alpha" / "sft" / "runs").glob("*/events.out.tfevents.*"))


def test_unfit_rows_and_missing_heldout_rows_are_one_line_each(forged):
    path, logged = forged
    lines = logged.splitlines()
    unfit = [line for line in lines if "eval rows do not fit" in line]
    assert unfit and all("expert beta: 1 of 2 eval rows do not fit the 2048-token context of" in line for line in unfit)
    assert len(unfit) == 2  # base and expert, one line each
    empty = [line for line in lines if "expert gamma: no held-out rows" in line]
    assert len(empty) == 1 and "eval skipped" in empty[0]
    figures = json.loads((path.parent / "runs" / "report.json").read_text())
    beta = figures["experts"]["beta"]["eval"]
    assert beta["models"]["expert"]["rows"] == 1 and beta["models"]["expert"]["skipped"] == 1
    assert figures["experts"]["gamma"]["eval"]["models"] == {}
    assert any("expert gamma: no held-out rows" in note for note in figures["notes"])
    # ... and the rest of the report is there.
    assert figures["routing"]["examples"] == 4 and figures["routing"]["accuracy"] == 1.0
    assert figures["routing"]["confusion"]["beta"]["beta"] == 2


def test_rerun_skips_and_report_and_json_agree(forged, capsys):
    path, _ = forged
    assert main(["forge", "report", str(path)]) == 0
    assert capsys.readouterr().out.strip() == str(path.parent / "runs" / "report.html")
    assert main(["forge", str(path), "--json"]) == 0
    out = capsys.readouterr()
    figures = json.loads(out.out)
    assert {s["status"] for s in figures["stages"]} == {"done"}
    on_disk = json.loads((path.parent / "runs" / "report.json").read_text())
    assert figures["experts"] == on_disk["experts"] and figures["routing"] == on_disk["routing"]
    assert "skipped (unchanged)" in out.err


class ReportDOM(HTMLParser):
    """Plots (``svg[data-plot]`` with the marks drawn inside) and tables (body rows) of a page."""

    MARKS = frozenset({"polyline", "circle", "rect"})

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, int] = {}
        self.tables: list[int] = []
        self.ready = False
        self._plot: str | None = None
        self._tbody = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.ready = attributes.get("data-report-ready") == "1"
        elif tag == "svg" and attributes.get("data-plot"):
            self._plot = attributes["data-plot"]
            self.plots[self._plot] = 0
        elif self._plot and tag in self.MARKS and attributes.get("class") in ("series", "bar", "cell", None):
            self.plots[self._plot] += tag != "rect" or attributes.get("class") in ("bar", "cell")
        elif tag == "table":
            self.tables.append(0)
        elif tag == "tbody":
            self._tbody = True
        elif tag == "tr" and self._tbody:
            self.tables[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._plot = None
        elif tag == "tbody":
            self._tbody = False


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/install.sh installs Debian's chromium)")
    return binary


def render(page: Path, profile: Path, screenshot: Path | None = None) -> tuple[ReportDOM, str]:
    """Load ``page`` in headless Chromium: its DOM after the scripts ran, and the console log."""
    args = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,3000"]
    target = page.as_uri()
    if screenshot is not None:
        shot = subprocess.run(
            [*args, f"--screenshot={screenshot}", target], capture_output=True, text=True, timeout=120
        )
        assert screenshot.is_file(), shot.stderr[-2000:]
    run = subprocess.run([*args, "--dump-dom", target], capture_output=True, text=True, timeout=120)
    dom = ReportDOM()
    dom.feed(run.stdout)
    return dom, run.stderr


def test_report_renders_in_chromium(forged, tmp_path):
    from PIL import Image

    path, _ = forged
    page = path.parent / "runs" / "report.html"
    assert "http://" not in page.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch
    dom, console = render(page, tmp_path / "profile", tmp_path / "report.png")
    assert "Uncaught" not in console, console
    assert dom.ready, "the report's script did not run to its end"
    expected = {
        "loss-alpha-sft",
        "loss-beta-sft",
        "loss-gamma-sft",
        "metrics-alpha",
        "ppl-alpha",
        "metrics-beta",
        "confusion",
        "routing-pr",
        "timings",
    }
    assert expected <= set(dom.plots), f"missing plots: {sorted(expected - set(dom.plots))}"
    assert all(dom.plots[p] > 0 for p in expected), dom.plots
    assert dom.tables and all(rows > 0 for rows in dom.tables), dom.tables
    image = Image.open(tmp_path / "report.png")
    assert image.size == (1280, 3000)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # drawn, not blank


def test_chromium_check_catches_a_script_error(forged, tmp_path):
    path, _ = forged
    broken = tmp_path / "broken.html"
    broken.write_text(
        (path.parent / "runs" / "report.html")
        .read_text()
        .replace("(function () {", "(function () { undefinedFunction();", 1)
    )
    dom, console = render(broken, tmp_path / "profile")
    assert not dom.ready and "Uncaught" in console


def test_eval_command_scores_the_same_heldout_rows(forged, capsys):
    """``largeforge eval --val-size`` takes the forge's split: same rows, same loss."""
    path, _ = forged
    runs = path.parent / "runs"
    assert (
        main(
            [
                "eval",
                str(path.parent / "alpha.json"),
                "--model",
                f"expert={runs / 'experts' / 'alpha' / 'sft'}",
                "--val-size",
                "0.25",
                "--max-new-tokens",
                "4",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    forged_eval = json.loads((runs / "experts" / "alpha" / "eval" / "eval.json").read_text())
    assert result["rows"] == 2
    assert result["models"]["expert"]["loss"] == forged_eval["models"]["expert"]["loss"]
    assert [s["prompt"] for s in result["models"]["expert"]["samples"]] == [
        s["prompt"] for s in forged_eval["models"]["expert"]["samples"]
    ]


def test_quantize_calibration_leaves_out_heldout_rows(tmp_path, tiny_model_dir):
    from largeforge.data import load_conversations
    from largeforge.evaluation import split_conversations
    from largeforge.forge.runner import calibration_texts

    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{"instruction": f"question {i}?", "output": f"answer {i}."} for i in range(10)]))
    texts = calibration_texts(str(tiny_model_dir), data, 100, holdout={"val_size": 0.3, "seed": 0})
    heldout = split_conversations(load_conversations(data), 0.3, 0).heldout
    assert len(texts) == 7 and len(heldout) == 3
    assert not any(c.messages[0].content in text for c in heldout for text in texts)
    assert len(calibration_texts(str(tiny_model_dir), data, 100)) == 10


def test_eval_command_takes_a_file_per_expert_and_measures_retention(forged, capsys, tiny_model_dir):
    """``largeforge eval alpha=A beta=B``: each expert on its own file beside the base model, with
    intervals and paired changes; ``--general-rows`` adds every model's retention verdict."""
    path, _ = forged
    root, experts = path.parent, path.parent / "runs" / "experts"
    args = [
        "eval",
        f"alpha={root / 'alpha.json'}",
        f"beta={root / 'beta.jsonl'}",
        "--model",
        f"alpha={experts / 'alpha' / 'sft'}",
        "--model",
        f"beta={experts / 'beta' / 'sft'}",
        "--base",
        str(tiny_model_dir),
        "--max-new-tokens",
        "4",
        "--general-rows",
        "3",
        "--json",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    first, second = result["evals"]
    assert first["rows"] == 8 and set(first["models"]) == {"base", "alpha"}
    assert second["rows"] == 4 and set(second["models"]) == {"base", "beta"}
    assert set(first["comparisons"]) == {"alpha"} and first["comparisons"]["alpha"]["rows"] == 8
    assert first["models"]["alpha"]["intervals"]["contains"] is not None
    general = result["general"]
    assert general["rows"] == 3 and set(general["verdicts"]) == {"alpha", "beta"}
    assert all(v["metric"] == "contains" and "regression" in v for v in general["verdicts"].values())
    # An unknown label is one line naming the labels there are.
    assert main(["eval", f"gamma={root / 'alpha.json'}", "--model", f"alpha={experts / 'alpha' / 'sft'}"]) == 2
    assert "no --model labelled 'gamma'" in capsys.readouterr().err
