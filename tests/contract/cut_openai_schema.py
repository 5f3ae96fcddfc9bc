"""Cut the response schemas LargeForge is checked against out of OpenAI's published OpenAPI
document (``openapi.json`` of https://github.com/openai/openai-openapi, MIT licence).

    python tests/contract/cut_openai_schema.py openapi.json COMMIT > tests/contract/openai_schema.json

The cut holds the roots below and every schema they reference, verbatim (``nullable: true``
included: :mod:`tests.contract.openai_schema` translates it when loading).
"""

from __future__ import annotations

import json
import sys
from typing import Any

REPOSITORY = "https://github.com/openai/openai-openapi"
ROOTS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
)


def cut(document: dict[str, Any], commit: str) -> dict[str, Any]:
    """The ``ROOTS`` of ``document`` and what they reference, under ``components.schemas``."""
    schemas = document["components"]["schemas"]
    kept: dict[str, Any] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in kept:
                    kept[name] = schemas[name]
                    visit(schemas[name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for root in ROOTS:
        kept[root] = schemas[root]
        visit(schemas[root])
    return {
        "x-source": {
            "repository": REPOSITORY,
            "path": "openapi.json",
            "commit": commit,
            "openapi": document["openapi"],
            "license": "MIT (see LICENSE.openai-openapi)",
        },
        "components": {"schemas": dict(sorted(kept.items()))},
    }


if __name__ == "__main__":
    path, commit = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        print(json.dumps(cut(json.load(f), commit), indent=1, ensure_ascii=False))
