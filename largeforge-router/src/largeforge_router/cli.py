"""``largeforge router serve | classify | train | eval``.

This module loads with every ``largeforge`` call (the commands are declared here), so each command
imports what its body needs when it runs: the server stack, the classifiers (numpy, torch) and rich.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from largeforge.contracts import Classifier
    from largeforge_router.config import RouterFileConfig

CONFIG_HELP = "Router config file (YAML/TOML/JSON) with experts:, classifier: and server: sections."
METHODS = ("keyword", "neural", "hybrid")


def build() -> typer.Typer:
    """The ``router`` command group."""
    group = typer.Typer(help="Route queries to expert models: serve, classify, train, eval.", no_args_is_help=True)

    @group.command()
    def serve(
        config: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
        host: Optional[str] = typer.Option(None, help="Address to bind (default: server.host)."),
        port: Optional[int] = typer.Option(None, help="Port (default: server.port; 0 picks a free one)."),
    ) -> None:
        """Start the router service (OpenAI-compatible front door at /v1)."""
        import socket

        import uvicorn  # heavy: imported where used

        from largeforge_router.app import create_app
        from largeforge_router.config import load_router_config
        from largeforge_router.router import Router

        cfg = load_router_config(config)
        server = cfg.server.merged(host=host, port=port)
        router = Router.from_config(cfg)
        app = create_app(router, api_keys=server.api_keys, admin_keys=server.admin_keys)
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections of a
        # listening socket whose proto is TCP, and without it every response waits ~40 ms for a
        # delayed ACK (Nagle), measured here.
        sock = socket.socket(
            socket.AF_INET6 if ":" in server.host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((server.host, server.port))
        sock.listen(2048)  # connections queue from now on, so the line below is a readiness signal
        bound = sock.getsockname()[1]
        shown = f"[{server.host}]" if ":" in server.host else server.host
        print(
            f"Router listening on http://{shown}:{bound} "
            f"({len(cfg.experts)} experts, {cfg.classifier.classifier_type} classifier)",
            flush=True,
        )
        # loop/http "auto" (the defaults): uvloop and httptools when installed (they are router
        # dependencies), else asyncio and h11.
        uv = uvicorn.Server(
            uvicorn.Config(
                app, log_level="warning", access_log=False, timeout_graceful_shutdown=5, loop="auto", http="auto"
            )
        )
        try:
            uv.run(sockets=[sock])
        finally:
            sock.close()

    @group.command()
    def classify(
        query: str = typer.Argument(..., help="The query to classify."),
        config: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
        method: Optional[str] = typer.Option(None, help="keyword, neural or hybrid (default: the config's)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show which expert a query would go to, and every expert's score."""
        from largeforge_router.config import load_router_config
        from largeforge_router.routing import decide

        cfg = load_router_config(config)
        classifier = _classifier(cfg, method)
        result = classifier.classify(query)
        decision = decide(
            result,
            cfg.classifier,
            {e.name for e in cfg.experts if e.enabled},
            threshold=cfg.classifier.threshold_for(classifier),
        )
        data = decision.to_dict()
        data["details"] = result.details
        if as_json:
            print(json.dumps(data, indent=2, default=str))
            return
        from largeforge.cli.output import console

        note = (
            f" (fallback: {decision.fallback_reason}; classifier said {decision.classified_expert})"
            if decision.fallback_reason
            else ""
        )
        console.print(f"expert: [bold]{decision.expert}[/bold]{note}")
        console.print(f"confidence: {decision.confidence:.3f}  method: {decision.method}")
        for name, score in sorted(decision.scores.items(), key=lambda kv: -kv[1]):
            console.print(f"  {name:<20} {score:.3f}")

    @group.command()
    def train(
        config: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
        data: Path = typer.Option(..., "--data", "-d", help='JSONL of {"query", "expert"} rows.'),
        output: Optional[Path] = typer.Option(
            None, "--output", "-o", help="Where to save the head (default: classifier.neural_model)."
        ),
    ) -> None:
        """Train the neural classifier's head on labelled queries (plus the experts' descriptions
        and keywords, and the corrections stored at classifier.feedback_data), choosing its
        settings by cross-validation, and save it."""
        from largeforge.cli.output import print_success
        from largeforge.errors import ConfigError
        from largeforge_router.classifiers.factory import untrained_neural
        from largeforge_router.config import load_router_config, read_labelled
        from largeforge_router.feedback import read_corrections, with_corrections

        cfg = load_router_config(config)
        target = output or (Path(cfg.classifier.neural_model) if cfg.classifier.neural_model else None)
        if target is None:
            raise ConfigError(f"{config}: no --output given and classifier.neural_model is not set")
        corrections = read_corrections(cfg.classifier.feedback_data)
        pairs = with_corrections(read_labelled(data), corrections)
        _check_labels(pairs, cfg, data)
        neural = untrained_neural(cfg.classifier, cfg.experts)
        stats = neural.train(pairs)
        neural.save(target)
        cv = stats["cv_accuracy"]
        checked = "too few queries per expert to cross-validate" if cv != cv else f"cross-validated {cv:.1%}"
        learnt = f", {len(corrections)} of them corrections" if corrections else ""
        print_success(
            f"trained on {len(pairs)} queries{learnt} (training accuracy {stats['train_accuracy']:.1%}, "
            f"{checked}); saved to {target}"
        )

    @group.command("eval")
    def evaluate_cmd(
        config: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
        train_data: Path = typer.Option(..., "--train", "-t", help='Training JSONL of {"query", "expert"}.'),
        data: Path = typer.Option(..., "--data", "-d", help='Held-out JSONL of {"query", "expert"}.'),
        method: Optional[list[str]] = typer.Option(
            None, "--method", "-m", help="Classifier(s) to evaluate (default: keyword, neural, hybrid)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Fit the classifiers on --train and report on --data: accuracy, precision/recall per
        expert, confusion matrix, fallback rate and latency."""
        from largeforge.errors import ConfigError
        from largeforge_router.config import load_router_config, read_labelled
        from largeforge_router.evaluation import evaluate

        cfg = load_router_config(config)
        methods = method or list(METHODS)
        for name in methods:
            if name not in METHODS:
                raise ConfigError(f"--method {name!r}: use keyword, neural or hybrid")
        train_pairs, test_pairs = read_labelled(train_data), read_labelled(data)
        _check_labels(train_pairs, cfg, train_data)
        _check_labels(test_pairs, cfg, data)
        experts = [e.name for e in cfg.experts if e.enabled]
        reports = {
            name: evaluate(_classifier(cfg, name, train_pairs), cfg.classifier, test_pairs, experts) for name in methods
        }
        result = {
            "config": str(config),
            "train": str(train_data),
            "data": str(data),
            "train_examples": len(train_pairs),
            "confidence_threshold": cfg.classifier.confidence_threshold,
            "fallback_expert": cfg.classifier.fallback_expert,
            "methods": reports,
        }
        if as_json:
            print(json.dumps(result, indent=2))
            return
        _print_eval(
            result, cfg.classifier.classifier_type if cfg.classifier.classifier_type in reports else methods[-1]
        )

    return group


def _classifier(cfg: RouterFileConfig, method: str | None, training: list[tuple[str, str]] | None = None) -> Classifier:
    """Build the classifier ``method`` (default: the config's). Explicit ``training`` pairs (eval)
    train a fresh head; otherwise a saved ``neural_model`` is loaded, else ``training_data`` used."""
    from largeforge_router.classifiers.factory import build_classifier
    from largeforge_router.config import read_labelled

    settings = cfg.classifier
    saved = settings.neural_model if settings.neural_model and Path(settings.neural_model).exists() else None
    if training is None and saved is None and settings.training_data:
        training = read_labelled(settings.training_data)
    return build_classifier(
        settings,
        cfg.experts,
        classifier_type=method,
        training_data=training,
        neural_model=None if training is not None else saved,
    )


def _check_labels(pairs: list[tuple[str, str]], cfg: RouterFileConfig, path: Path) -> None:
    from largeforge.errors import ConfigError

    names = {e.name for e in cfg.experts}
    unknown = sorted({e for _, e in pairs} - names)
    if unknown:
        raise ConfigError(
            f"{path}: labels {', '.join(unknown)} are not experts of the config ({', '.join(sorted(names))})"
        )


def _print_eval(result: dict[str, Any], primary: str) -> None:
    from rich.table import Table

    from largeforge.cli.output import console

    reports = result["methods"]
    summary = Table(
        title=f"Routing accuracy on {next(iter(reports.values()))['examples']} held-out queries "
        f"(trained on {result['train_examples']})"
    )
    for column in ("method", "accuracy", "classifier pick", "fallback rate", "p50 ms", "p95 ms"):
        summary.add_column(column, justify="left" if column == "method" else "right")
    for name, rep in reports.items():
        summary.add_row(
            name,
            f"{rep['accuracy']:.1%}",
            f"{rep['classifier_accuracy']:.1%}",
            f"{rep['fallback_rate']:.1%}",
            f"{rep['latency_ms']['p50']:.2f}",
            f"{rep['latency_ms']['p95']:.2f}",
        )
    console.print(summary)
    rep = reports[primary]
    calibration, cascade = rep["calibration"], rep["second_opinion"]
    console.print(
        f"{primary}: expected calibration error {calibration['ece']:.3f}; wrong at confidence ≥ "
        f"{calibration['high_confidence']:g}: {calibration['wrong_confident_count']} "
        f"({calibration['wrong_confident']:.1%} of queries); second opinion asked for "
        f"{cascade['rate']:.1%} (p50 {cascade['fast_p50_ms']:.1f} ms without it, "
        f"{cascade['cascade_p50_ms']:.1f} ms with it)"
    )
    reliability = Table(title=f"{primary}: reliability (does confidence match accuracy?)")
    for column in ("confidence", "queries", "accuracy", "mean confidence"):
        reliability.add_column(column, justify="right")
    for row in calibration["reliability"]:
        reliability.add_row(row["bin"], str(row["queries"]), f"{row['accuracy']:.1%}", f"{row['mean_confidence']:.1%}")
    console.print(reliability)
    sweep = rep["thresholds"]
    in_force = result["methods"][primary]["confidence_threshold"]
    configured = result["confidence_threshold"]
    setting = f"auto → {in_force:g}" if configured == "auto" else f"{in_force:g}"
    thresholds = Table(
        title=f"{primary}: accuracy and fallback rate by confidence_threshold "
        f"(config: {setting}; recommended on this data: {sweep['recommended']})"
    )
    for column in ("threshold", "accuracy", "fallback rate"):
        thresholds.add_column(column, justify="right")
    for row in sweep["sweep"]:
        mark = " ←" if row["threshold"] == sweep["recommended"] else ""
        thresholds.add_row(f"{row['threshold']:.2f}{mark}", f"{row['accuracy']:.1%}", f"{row['fallback_rate']:.1%}")
    console.print(thresholds)
    per = Table(title=f"{primary}: per expert")
    for column in ("expert", "precision", "recall", "f1", "support"):
        per.add_column(column, justify="left" if column == "expert" else "right")
    for name, m in rep["per_expert"].items():
        per.add_row(name, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", str(m["support"]))
    console.print(per)
    confusion = Table(title=f"{primary}: confusion matrix (rows: true expert, columns: routed to)")
    labels = list(rep["confusion"])
    confusion.add_column("true \\ routed")
    for name in labels:
        confusion.add_column(name[:10], justify="right")
    for true in labels:
        confusion.add_row(true, *(str(rep["confusion"][true][p]) for p in labels))
    console.print(confusion)
