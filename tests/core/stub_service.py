"""A stand-in expert server or router on loopback, for testing the forge's service hooks.

    python stub_service.py expert NAME PORT     answers every chat with "NAME answers: QUERY"
    python stub_service.py router CONFIG.json   forwards each chat to the expert whose keyword it
                                                holds (else the first) and names it in a header

Both answer ``GET /health``. The config is ``{"port": N, "experts": [{"name", "keywords",
"endpoints"}]}``. Standard library only: the core's tests run without the serve and router
distributions."""

from __future__ import annotations

import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


def chat(text: str) -> dict[str, Any]:
    return {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


class Handler(BaseHTTPRequestHandler):
    role = ""
    name = ""
    experts: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        if self.path == "/health":
            return self._reply(200, {"status": "ok"})
        return self._reply(404, {})

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            return self._reply(404, {})
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        query = json.loads(body)["messages"][-1]["content"]
        if self.role == "expert":
            return self._reply(200, chat(f"{self.name} answers: {query}"))
        expert = next((e for e in self.experts if any(k in query for k in e["keywords"])), self.experts[0])
        request = urllib.request.Request(
            f"{expert['endpoints'][0]}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        self._reply(200, answer, {"x-largeforge-expert": expert["name"], "x-largeforge-confidence": "1.00"})

    def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str]) -> None:
    Handler.role = argv[0]
    if Handler.role == "expert":
        Handler.name, port = argv[1], int(argv[2])
    else:
        with open(argv[1], encoding="utf-8") as handle:
            config = json.load(handle)
        Handler.experts, port = config["experts"], config["port"]
    print(f"{Handler.role} listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
