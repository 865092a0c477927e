"""A tiny OpenAI-compatible chat server that answers at once, for reliability tests.

It is a real HTTP server on 127.0.0.1 that the real openai SDK talks to, so the
whole transport path (httpx, status codes, headers, timeouts) is exercised; only
the model is replaced. Its answer is a pure function of the record in the prompt,
so two runs over the same records give the same decisions table. It is never proof
that a backend's answers are any good: that is what the llama_cpp.server tests do.

Run standalone: ``python tests/instant_server.py --port 8011 [--delay 0.05]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DECISIONS = ("include", "exclude", "uncertain")
VERDICTS = ("met", "not_met", "unclear")


def request_schema(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema the client asked for, whichever structured-output method it used."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format.get("json_schema", {}).get("schema") or {})
    if response_format.get("type") == "json_object":
        return dict(response_format.get("schema") or {})
    tools = body.get("tools") or []
    if tools:
        return dict(tools[0]["function"].get("parameters") or {})
    return {}


def record_key(messages: list[dict[str, Any]]) -> str:
    """Identifies the record a request is about: the first user message (repairs append later ones)."""
    first_user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    return hashlib.sha256(str(first_user).encode("utf-8")).hexdigest()[:16]


def instance(schema: dict[str, Any], digest: bytes, depth: int = 0) -> Any:
    """A minimal value valid against ``schema`` (the subset winnow's forms use), varied by ``digest``."""
    pick = digest[depth % len(digest)]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return instance(options[0], digest, depth + 1)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][pick % len(schema["enum"])]
    if kind == "object":
        props = schema.get("properties", {})
        names = schema.get("required") or list(props)
        return {name: instance(props.get(name, {}), digest, depth + i + 1) for i, name in enumerate(names)}
    if kind == "array":
        return [instance(schema.get("items", {}), digest, depth + 1)] if schema.get("minItems") else []
    if kind == "integer":
        return 1 + pick % 9
    if kind == "number":
        return float(1 + pick % 9)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "instant"[: schema.get("maxLength", 7)]


def answer(body: dict[str, Any]) -> str:
    """A schema-valid answer derived only from the record in the prompt (screening or any other form)."""
    schema = request_schema(body)
    props = schema.get("properties", {})
    digest = hashlib.sha256(record_key(body.get("messages") or []).encode()).digest()
    if "criteria" not in props:
        return json.dumps(instance(schema, digest))
    criteria = props.get("criteria", {}).get("required") or []
    verdicts = {
        cid: {"verdict": VERDICTS[digest[i % len(digest)] % 3], "reason": f"instant reason {cid}"}
        for i, cid in enumerate(criteria)
    }
    return json.dumps({"criteria": verdicts, "rationale": "instant rationale", "decision": DECISIONS[digest[-1] % 3]})


class InstantServer:
    """Serves ``/v1/models`` and ``/v1/chat/completions`` on 127.0.0.1 in a background thread."""

    def __init__(self, port: int = 0, *, delay_s: float = 0.0, echo_auth_status: int | None = None) -> None:
        self.delay_s = delay_s
        self.echo_auth_status = echo_auth_status
        self.requests = 0
        self.answers = 0
        self.connections = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Else headers and body go out as two packets and each answer waits ~40 ms for an ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                return

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.connections += 1

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with server.lock:
                        server.connections -= 1

            def do_GET(self) -> None:
                self._json(200, {"object": "list", "data": [{"id": "instant", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests += 1
                if server.echo_auth_status is not None:
                    # Some real servers echo the key they refused; winnow must not store or show it.
                    auth = self.headers.get("Authorization", "")
                    self._json(
                        server.echo_auth_status,
                        {"error": {"message": f"Incorrect API key provided: {auth}", "type": "invalid_request"}},
                    )
                    return
                if server.delay_s:
                    time.sleep(server.delay_s)
                content = answer(body)
                tools = body.get("tools")
                message: dict[str, Any] = {"role": "assistant", "content": None if tools else content}
                if tools:
                    name = tools[0]["function"]["name"]
                    message["tool_calls"] = [
                        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": content}}
                    ]
                with server.lock:
                    server.answers += 1
                self._json(
                    200,
                    {
                        "id": "chatcmpl-instant",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": "instant-1",
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    },
                )

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until every client connection is closed and its requests counted.

        A client killed with SIGKILL can leave a request in the socket that the
        server reads (and counts) only after the kill; counting the next run's
        requests before that would charge it one request too many.
        """
        deadline = time.monotonic() + timeout_s
        while self.connections and time.monotonic() < deadline:
            time.sleep(0.005)

    def start(self) -> InstantServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> InstantServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = InstantServer(args.port, delay_s=args.delay)
    print(server.base_url, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
