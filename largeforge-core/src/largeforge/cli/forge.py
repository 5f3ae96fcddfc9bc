"""``largeforge forge PIPELINE.yaml``: build (and optionally serve and route) a team of experts;
``largeforge forge report PIPELINE.yaml``: where its HTML report is."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

HELP = """Run a forge pipeline (`largeforge forge PIPELINE.yaml [OPTIONS]`, the `run` command), or
show its report (`largeforge forge report PIPELINE.yaml`)."""


class ForgeGroup(TyperGroup):
    """``forge PIPELINE …`` runs ``forge run PIPELINE …``; ``forge report …`` is a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _print_stage_configs(plan: Any) -> None:
    """Every stage's settings as YAML, keyed ``expert.stage``; a training stage's config is written
    flat (TRL pass-through fields beside LargeForge's, as a ``largeforge train --config`` file)."""
    import yaml

    out: dict[str, Any] = {}
    for stage in plan.stages:
        settings = dict(stage.config)
        if isinstance(settings.get("train"), dict):
            train = dict(settings["train"])
            passthrough = train.pop("trl_args", {})
            settings["train"] = {**train, **passthrough}
        out[f"{stage.expert}.{stage.kind}"] = {"plugin": stage.plugin, "output": str(stage.output), **settings}
    typer.echo(yaml.safe_dump(out, sort_keys=False, allow_unicode=True), nl=False)


def register(app: typer.Typer) -> None:
    group = typer.Typer(cls=ForgeGroup, help=HELP, no_args_is_help=True)
    app.add_typer(group, name="forge")

    @group.command("run")
    def forge(
        pipeline: Path = typer.Argument(..., help="Pipeline file (YAML/TOML/JSON)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and what would run; do nothing."),
        print_config: bool = typer.Option(
            False,
            "--print-config",
            help="Print every stage's resolved settings (YAML, TRL fields and LoRA included); do nothing.",
        ),
        up: bool = typer.Option(False, "--up", help="Then serve every expert and the router until Ctrl+C."),
        ask: Optional[list[str]] = typer.Option(
            None, "--ask", help="Then send this query through the router and print who answered (repeatable)."
        ),
        demo: bool = typer.Option(False, "--demo", help="Then ask the pipeline's demo_queries through the router."),
        as_json: bool = typer.Option(
            False, "--json", help="Print the run's figures (the report's) as JSON on stdout; progress goes to stderr."
        ),
    ) -> None:
        """Run a forge pipeline: data → SFT → align (DPO, KTO, ORPO, …) → merge → quantize → eval → serve → route.

        Stages whose config and inputs are unchanged since their last run are skipped. Every run
        writes report.html and report.json into the pipeline's workdir."""
        from rich.table import Table

        from largeforge.cli.output import console, err_console
        from largeforge.errors import LargeForgeError
        from largeforge.forge import load_pipeline, plan_pipeline, run_plan
        from largeforge.forge.report import collect, write_report

        if as_json and (up or ask or demo):
            raise LargeForgeError("--json prints the run's figures; it cannot be combined with --up, --ask or --demo")
        plan = plan_pipeline(load_pipeline(pipeline))
        if print_config:
            _print_stage_configs(plan)
            return
        if as_json and dry_run:
            _print_json(collect(plan))
            return
        if as_json:
            console = err_console  # stdout carries the JSON alone
        if dry_run:
            table = Table(title=f"forge plan: {plan.pipeline.spec.name}")
            for col in ("expert", "stage", "plugin", "status", "key", "output"):
                table.add_column(col)
            for stage in plan.stages:
                table.add_row(
                    stage.expert,
                    stage.kind,
                    stage.plugin,
                    "done" if stage.done else "to run",
                    stage.key,
                    str(stage.artifact),
                )
            console.print(table)
            serve = plan.pipeline.spec.serve
            console.print(
                f"served by: {plan.serve_backend} (serve.backend {serve.backend}, {serve.mode})", highlight=False
            )
            console.print("each stage's resolved settings: add --print-config", highlight=False)
            return
        queries = list(ask or []) + (plan.pipeline.spec.demo_queries if demo else [])
        if up or queries:
            from largeforge.forge.services import launchers

            launchers(plan)  # a missing serve or router plugin fails now, not after the training
        total = len(plan.stages)
        index = {id(s): i for i, s in enumerate(plan.stages, start=1)}

        from largeforge.forge.progress import ForgeProgress, clock

        progress = ForgeProgress([s.kind for s in plan.stages if not s.done])

        def report(stage, status):  # type: ignore[no-untyped-def]
            marks = {
                "skipped": "[dim]skipped (unchanged)[/dim]",
                "running": "[cyan]running…[/cyan]",
                "done": "[green]done[/green]",
            }
            extra = ""
            if status == "running":
                progress.begin()
                extra = f" ({progress.summary()})"
            elif status == "done":
                extra = f" in {clock(progress.end(stage.kind))} ({progress.summary()})"
            console.print(
                f"[{index[id(stage)]}/{total}] {stage.expert} · {stage.kind} ({stage.plugin}) {marks[status]}{extra}",
                highlight=False,
            )

        from largeforge.evaluation.retention import RetentionError

        try:
            outcomes = run_plan(plan, on_stage=report)
        except RetentionError:
            write_report(plan)  # the report shows what was lost before the one-line failure
            raise
        table = Table(title=f"forge: {plan.pipeline.spec.name}")
        for col in ("expert", "stage", "status", "time (s)", "metrics", "artifact"):
            table.add_column(col)
        for outcome in outcomes:
            metrics = "  ".join(f"{k}={v}" for k, v in outcome.metrics.items()) or "-"
            table.add_row(
                outcome.stage.expert,
                outcome.stage.kind,
                outcome.status,
                f"{outcome.seconds:.1f}",
                metrics,
                str(outcome.stage.artifact),
            )
        console.print(table)
        path, figures = write_report(plan)
        if as_json:
            _print_json(figures)
            return
        console.print(f"report: {path}", highlight=False, soft_wrap=True)
        if up or queries:
            _serve_and_ask(plan, queries, keep_running=up)

    @group.command("report")
    def report(
        pipeline: Path = typer.Argument(..., help="Pipeline file (YAML/TOML/JSON)."),
        open_: bool = typer.Option(False, "--open", help="Also open it in the default web browser."),
    ) -> None:
        """Write the pipeline's report.html from its finished stages (nothing runs) and print its path."""
        import webbrowser

        from largeforge.errors import LargeForgeError
        from largeforge.forge import load_pipeline, plan_pipeline
        from largeforge.forge.report import write_report

        plan = plan_pipeline(load_pipeline(pipeline))
        if not any(stage.done for stage in plan.stages):
            raise LargeForgeError(
                f"{pipeline}: no stage has finished in {plan.pipeline.workdir}: run `largeforge forge {pipeline}` first"
            )
        path, _ = write_report(plan)
        typer.echo(str(path))
        if open_ and not webbrowser.open(path.as_uri()):
            raise LargeForgeError(f"no web browser to open {path} with; open the file yourself")


def _print_json(figures: dict[str, Any]) -> None:
    import json

    typer.echo(json.dumps(figures, indent=2, ensure_ascii=False))


def _serve_and_ask(plan, queries: list[str], keep_running: bool) -> None:  # type: ignore[no-untyped-def]
    import time

    from largeforge.cli.output import console, print_info
    from largeforge.forge.services import ask, start_services

    print_info("starting expert servers and the router…")
    with start_services(plan) as services:
        for service in services.experts:
            print_info(f"expert {service.name}: {service.url}/v1")
        assert services.router is not None
        print_info(f"router: {services.router.url}/v1  (model 'auto' routes; logs in {plan.pipeline.workdir / 'logs'})")
        if queries:
            from rich.markup import escape

            console.print("\n[bold]Routed answers[/bold]")
            for query in queries:
                answer = ask(services.router.url, query)
                console.print(
                    f"[bold]Q:[/bold] {escape(query)}\n  [cyan]→ {answer.expert}[/cyan] "
                    f"(confidence {answer.confidence}): {escape(answer.text)}",
                    highlight=False,
                )
        if keep_running:
            print_info("serving; press Ctrl+C to stop")
            try:
                while all(s.process.poll() is None for s in services.all()):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
