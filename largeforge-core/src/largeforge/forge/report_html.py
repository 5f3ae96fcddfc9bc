"""Render the figures of :func:`largeforge.forge.report.collect` as one self-contained HTML page.

Plots are inline SVG (:mod:`largeforge.forge.svg`); the style sheet and the one small script are
inline too, so the page opens from disk with no network. The script only filters the sample
table; when it has run it sets ``data-report-ready="1"`` on ``<body>`` (a headless browser checks it).
"""

from __future__ import annotations

from html import escape
from typing import Any

from largeforge.forge import svg
from largeforge.forge.report_cells import table, td
from largeforge.forge.report_summary import retention_table, summary_table

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f8fafc;color:#111827}
header{background:#1e293b;color:#f8fafc;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#cbd5e1;font-size:13px}main{padding:8px 28px 40px;max-width:1160px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:18px 0;padding:14px 18px}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:14px;margin:14px 0 6px;color:#374151}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{border:1px solid #e5e7eb;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f1f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:12px}.note{background:#fef3c7;border-left:4px solid #f59e0b;
padding:6px 10px;margin:6px 0;font-size:13px}.better{color:#15803d;font-weight:600}.worse{color:#b91c1c}
.muted{color:#6b7280;font-size:12px}select{margin:4px 0 6px}
"""

SCRIPT = """
(function () {
  var filter = document.getElementById("sample-filter");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-expert]"));
  function apply() {
    var value = filter ? filter.value : "";
    rows.forEach(function (row) { row.hidden = value !== "" && row.getAttribute("data-expert") !== value; });
  }
  if (filter) { filter.addEventListener("change", apply); }
  apply();
  document.body.setAttribute("data-report-ready", "1");
})();
"""


def _expert_section(name: str, expert: dict[str, Any]) -> str:
    parts = [f'<section class="expert" id="expert-{escape(name)}"><h2>Expert {escape(name)}</h2>']
    if expert.get("description"):
        parts.append(f'<p class="muted">{escape(expert["description"])}</p>')
    plots = []
    for kind, curves in expert.get("training", {}).items():
        if curves:
            series = {("train loss" if k == "loss" else "eval loss"): v for k, v in curves.items()}
            plots.append(svg.line_chart(series, title=f"{name}: {kind} loss", plot_id=f"loss-{name}-{kind}"))
    result = expert.get("eval") or {}
    models = result.get("models", {})
    metrics = result.get("metrics", [])
    if models and metrics:
        series = {label: [m.get("metrics", {}).get(k) for k in metrics] for label, m in models.items()}
        plots.append(
            svg.bar_chart(metrics, series, title=f"{name}: held-out metrics", plot_id=f"metrics-{name}", y_max=1.0)
        )
        ppl = {label: [m.get("perplexity")] for label, m in models.items()}
        plots.append(
            svg.bar_chart(
                ["perplexity"],
                ppl,
                title=f"{name}: held-out perplexity (lower is better)",
                plot_id=f"ppl-{name}",
                width=360,
            )
        )
    if plots:
        parts.append('<div class="plots">' + "".join(plots) + "</div>")
    elif not result:
        parts.append('<p class="muted">No training or eval stage of this expert has finished yet.</p>')
    for note in result.get("notes", []):
        parts.append(f'<div class="note">{escape(note)}</div>')
    if result:
        level = round(100 * result.get("confidence", 0.95))
        parts.append(
            f'<p class="muted">Evaluated on {escape(result.get("source", ""))}; '
            f"[low, high]: {level}% bootstrap intervals.</p>"
        )
    if models:
        rows = [
            [
                td(label),
                td(m.get("model")),
                td(m.get("rows")),
                td(m.get("skipped")),
                td(m.get("loss"), interval=m.get("intervals", {}).get("loss")),
                td(m.get("perplexity"), 2, interval=m.get("intervals", {}).get("perplexity")),
                *(td(m.get("metrics", {}).get(k), interval=m.get("intervals", {}).get(k)) for k in metrics),
                td(m.get("seconds"), 1),
            ]
            for label, m in models.items()
        ]
        parts.append(
            table(
                ["model", "path", "scored", "skipped (too long)", "loss", "perplexity", *metrics, "seconds"],
                rows,
                "eval",
            )
        )
    quant = expert.get("quantization")
    if quant:
        parts.append("<h3>Quantization</h3>")
        parts.append(
            '<div class="plots">'
            + svg.bar_chart(
                ["weights (MiB)"],
                {"before": [quant["bytes_before"] / 2**20], "after": [quant["bytes_after"] / 2**20]},
                title=f"{name}: size before and after {quant['method']}",
                plot_id=f"quant-size-{name}",
                width=360,
            )
        )
        if quant.get("perplexity_after") is not None:
            parts.append(
                svg.bar_chart(
                    ["perplexity"],
                    {"expert": [quant["perplexity_before"]], "quantized": [quant["perplexity_after"]]},
                    title=f"{name}: held-out perplexity after {quant['method']}",
                    plot_id=f"quant-ppl-{name}",
                    width=360,
                )
            )
        parts.append("</div>")
        parts.append(
            table(
                [
                    "method",
                    "bits",
                    "MiB before",
                    "MiB after",
                    "size ratio",
                    "perplexity before",
                    "perplexity after",
                    "perplexity ratio",
                ],
                [
                    [
                        td(quant["method"]),
                        td(quant["bits"]),
                        td(quant["bytes_before"] / 2**20, 1),
                        td(quant["bytes_after"] / 2**20, 1),
                        td(quant["size_ratio"]),
                        td(quant["perplexity_before"], 2),
                        td(quant["perplexity_after"], 2),
                        td(quant["perplexity_ratio"]),
                    ]
                ],
                "quant",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _samples(figures: dict[str, Any]) -> str:
    rows, experts = [], []
    for name, expert in figures["experts"].items():
        models = (expert.get("eval") or {}).get("models", {})
        if not models:
            continue
        experts.append(name)
        labels = list(models)
        count = max(len(m.get("samples", [])) for m in models.values())
        for i in range(count):
            first = next(m["samples"][i] for m in models.values() if i < len(m.get("samples", [])))
            cells = [
                f"<td>{escape(name)}</td>",
                f"<td>{escape(first['prompt'])}</td>",
                f"<td>{escape(first['reference'])}</td>",
            ]
            for label in labels:
                samples = models[label].get("samples", [])
                text = samples[i]["prediction"] if i < len(samples) else ""
                cells.append(f"<td>{escape(label)}: {escape(text)}</td>")
            rows.append(f'<tr data-expert="{escape(name)}">' + "".join(cells) + "</tr>")
    if not rows:
        return ""
    options = "".join(f'<option value="{escape(e)}">{escape(e)}</option>' for e in experts)
    return (
        '<section id="samples"><h2>Sample generations (held-out prompts)</h2>'
        f'<select id="sample-filter"><option value="">all experts</option>{options}</select>'
        '<table class="samples"><thead><tr><th>expert</th><th>prompt</th><th>reference</th>'
        '<th colspan="3">answers</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>"
    )


def _routing(routing: dict[str, Any] | None) -> str:
    if not routing:
        return ""
    parts = ['<section id="routing"><h2>Routing</h2>']
    for note in routing.get("notes", []):
        parts.append(f'<div class="note">{escape(note)}</div>')
    if routing.get("examples"):
        parts.append(
            f"<p>Classifier <b>{escape(routing['classifier'])}</b> on {routing['examples']} held-out "
            f"prompts: accuracy <b>{routing['accuracy']:.1%}</b> (classifier alone "
            f"{routing['classifier_accuracy']:.1%}), fallback rate {routing['fallback_rate']:.1%}.</p>"
        )
        labels = routing["labels"]
        parts.append(
            '<div class="plots">'
            + svg.heatmap(labels, routing["confusion"], title="confusion matrix", plot_id="confusion")
        )
        per = routing["per_label"]
        parts.append(
            svg.bar_chart(
                labels,
                {"precision": [per[n]["precision"] for n in labels], "recall": [per[n]["recall"] for n in labels]},
                title="per-expert precision and recall",
                plot_id="routing-pr",
                y_max=1.0,
            )
        )
        parts.append("</div>")
        parts.append(
            table(
                ["expert", "precision", "recall", "f1", "held-out prompts"],
                [
                    [td(n), td(per[n]["precision"]), td(per[n]["recall"]), td(per[n]["f1"]), td(per[n]["support"])]
                    for n in labels
                ],
                "routing",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _timings(stages: list[dict[str, Any]]) -> str:
    done = [s for s in stages if s["seconds"] is not None]
    if not done:
        return ""
    items = [(f"{s['expert']} · {s['stage']}", float(s["seconds"])) for s in done]
    rows = [
        [td(s["expert"]), td(s["stage"]), td(s["plugin"]), td(s["status"]), td(s["seconds"], 1), td(s["key"])]
        for s in stages
    ]
    return (
        '<section id="timings"><h2>Stage timings</h2>'
        + svg.hbar_chart(items, title="seconds per stage (when it last ran)", plot_id="timings")
        + table(["expert", "stage", "plugin", "status", "seconds", "key"], rows, "stages")
        + "</section>"
    )


def render(figures: dict[str, Any]) -> str:
    """The whole report page."""
    notes = "".join(f'<div class="note">{escape(n)}</div>' for n in figures.get("notes", []))
    experts = "".join(_expert_section(name, e) for name, e in figures["experts"].items())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>LargeForge report: {escape(figures['pipeline'])}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>LargeForge report: {escape(figures['pipeline'])}</h1>"
        f"<p>base model {escape(figures['base_model'])} · generated {escape(figures['generated'])} · "
        f"{escape(figures['workdir'])}</p></header><main>"
        f'<section id="summary"><h2>Base model vs expert on held-out data</h2>{notes}{summary_table(figures)}</section>'
        f"{retention_table(figures)}"
        f"{experts}{_routing(figures.get('routing'))}{_samples(figures)}{_timings(figures['stages'])}"
        f"</main><script>{SCRIPT}</script></body></html>"
    )
