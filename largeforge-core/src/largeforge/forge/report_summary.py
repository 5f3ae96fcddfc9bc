"""The report's headline tables: each expert against the base model on its eval rows, and its
retention on the general set beside its task gain, every figure with its bootstrap interval."""

from __future__ import annotations

from html import escape
from typing import Any

from largeforge.forge.report_cells import delta_class, table, td


def _confidence(result: dict[str, Any]) -> str:
    return f"{round(100 * result.get('confidence', 0.95))}%"


def summary_table(figures: dict[str, Any]) -> str:
    """Per expert and metric: rows, base and expert with intervals, and the paired change."""
    rows = []
    level = "95%"
    for name, expert in figures["experts"].items():
        result = expert.get("eval") or {}
        level = _confidence(result) if result else level
        models = result.get("models", {})
        base, mine = models.get("base", {}), models.get("expert", {})
        comparison = result.get("comparison") or {}
        for metric in [*result.get("metrics", []), "perplexity"] if mine else []:
            higher = metric != "perplexity"
            if higher:
                before, after = base.get("metrics", {}).get(metric), mine.get("metrics", {}).get(metric)
                change = comparison.get(metric) or {}
            else:
                before, after, change = base.get("perplexity"), mine.get("perplexity"), comparison.get("loss") or {}
            digits = 4 if higher else 2
            rows.append(
                [
                    td(name),
                    td(metric if higher else "perplexity (change: loss)"),
                    td(mine.get("rows")),
                    td(before, digits, interval=base.get("intervals", {}).get(metric)),
                    td(
                        after,
                        digits,
                        cls=delta_class(before, after, higher),
                        interval=mine.get("intervals", {}).get(metric),
                    ),
                    td(change.get("delta"), interval=change.get("interval"), signed=True),
                ]
            )
    if not rows:
        return '<p class="muted">No expert has been evaluated yet.</p>'
    return table(
        ["expert", "metric", "rows", f"base model [{level} CI]", f"expert [{level} CI]", "change [paired CI]"],
        rows,
        "summary",
    )


def retention_table(figures: dict[str, Any]) -> str:
    """A section: per expert, its task gain beside its change on the general set, the verdict of
    the retention gate and some of the answers it lost."""
    rows, lost = [], []
    for name, expert in figures["experts"].items():
        result = expert.get("eval") or {}
        general = result.get("general")
        if not general:
            continue
        metric = general["metric"]
        task = (result.get("comparison") or {}).get(metric) or {}
        kept = general["comparison"].get(metric) or {}
        verdict = "kept" if general["passed"] else "LOST"
        rows.append(
            [
                td(name),
                td(task.get("delta"), interval=task.get("interval"), signed=True),
                td(general["rows"]),
                td(kept.get("before"), interval=general["models"]["base"].get("intervals", {}).get(metric)),
                td(kept.get("after"), interval=general["models"]["expert"].get("intervals", {}).get(metric)),
                td(kept.get("delta"), interval=kept.get("interval"), signed=True),
                td(general["max_regression"], 2),
                td(verdict, cls="better" if general["passed"] else "worse"),
            ]
        )
        for row in general.get("lost", []):
            lost.append(f"<li>{escape(name)}: {escape(row['prompt'])} <b>({escape(row['reference'])})</b></li>")
    if not rows:
        return ""
    metric_names = {
        f["eval"]["general"]["metric"] for f in figures["experts"].values() if (f.get("eval") or {}).get("general")
    }
    metric = ", ".join(sorted(metric_names))
    parts = [
        '<section id="retention"><h2>Retention: task gain beside general ability</h2>',
        f'<p class="muted">Change of {escape(metric)} from base model to expert on its task rows and on the '
        "general held-out set (paired bootstrap intervals); an expert whose general score falls more than "
        "eval.max_regression is LOST.</p>",
        table(
            [
                "expert",
                f"task change ({metric})",
                "general rows",
                "general: base",
                "general: expert",
                "general change",
                "max regression",
                "retention",
            ],
            rows,
            "retention",
        ),
    ]
    if lost:
        parts.append("<h3>General answers lost (the base model had them)</h3><ul>" + "".join(lost) + "</ul>")
    parts.append("</section>")
    return "".join(parts)
