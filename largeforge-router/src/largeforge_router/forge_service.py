"""The forge's ``router`` launcher: ``largeforge router serve`` in front of a pipeline's team.

Writes the router's config (``router.yaml``: experts, their endpoints, the classifier and the
rows it trains on) into the forge's workdir, and runs the router on it. The forge starts,
watches and stops it (:mod:`largeforge.forge.services`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from largeforge.forge.launchers import ROUTER, ForgeService, RouterLaunch, ServiceSpec
from largeforge.utils.io import atomic_write, save_jsonl
from largeforge.utils.process import largeforge_command

CONFIG_FILE = "router.yaml"
TRAINING_FILE = "router-train.jsonl"


def write_config(request: RouterLaunch) -> Path:
    """Write the router's YAML (experts, endpoints, classifier, training queries) into the
    request's folder; paths in it are relative to that folder."""
    classifier: dict[str, Any] = request.classifier.to_dict()
    if request.training_rows:
        save_jsonl(request.training_rows, request.folder / TRAINING_FILE)
        classifier["training_data"] = TRAINING_FILE
    classifier["feedback_data"] = request.feedback
    config = {
        "experts": [
            {
                "name": e.name,
                "description": e.description,
                "keywords": list(e.keywords),
                "endpoints": request.endpoints[e.name],
            }
            for e in request.experts
        ],
        "classifier": classifier,
        "server": {"host": request.host, "port": request.port},
    }
    path = request.folder / CONFIG_FILE
    atomic_write(path, yaml.safe_dump(config, sort_keys=False))
    return path


def router_services(request: RouterLaunch) -> list[ServiceSpec]:
    """The router, on the config :func:`write_config` writes."""
    config = write_config(request)
    return [ServiceSpec("router", largeforge_command("router", "serve", "--config", str(config)), request.url)]


SERVICE = ForgeService("router", ROUTER, router_services)
