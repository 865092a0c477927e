"""An OpenAI-compatible chat server that answers at once, for benchmarks: no model behind it.

Usage: python bench/fake_openai_server.py [--port P] [--latency-ms L] [--rpm N]

It answers ``POST /v1/chat/completions`` with a screening answer that is valid
for the schema in the request (``response_format`` json_schema / json_object
``schema`` or a forced tool's ``parameters``), so winnow's whole path runs:
request, parse, validate, ledger. ``--latency-ms`` holds every answer that long
(threads, so answers overlap as a provider's do). ``--rpm`` enforces a request
limit the way providers quantise it: a token bucket refilled at RPM/60 per second
holding at most one second's worth, and a refused request gets HTTP 429 with
``Retry-After``. Usage reports ``prompt_tokens_details.cached_tokens`` from a
simulated prefix cache: the common prefix with the previous request's messages,
at four characters per token. ``GET /stats`` returns counters and request times.

Import ``FakeOpenAIServer`` to run it in a thread (tests), or run this file to
run it as its own process (benchmarks, so the server's CPU is not the client's).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHARS_PER_TOKEN = 4


def _schema_of(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return dict(fmt.get("json_schema", {}).get("schema") or {})
    if fmt.get("type") == "json_object":
        return dict(fmt.get("schema") or {})
    tools = body.get("tools") or []
    if tools:
        return dict(tools[0].get("function", {}).get("parameters") or {})
    return {}


def screening_answer(schema: dict[str, Any], decision: str = "include") -> dict[str, Any]:
    """A schema-valid screening answer: every criterion met, the given decision."""
    criteria = schema.get("properties", {}).get("criteria", {}).get("required", [])
    return {
        "criteria": {cid: {"verdict": "met", "reason": f"The record satisfies {cid}."} for cid in criteria},
        "rationale": "Synthetic answer from the benchmark server.",
        "decision": decision,
    }


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n
    while lo < hi:  # binary search on slices: C-speed comparisons, not a Python loop per char
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _State:
    def __init__(self, latency_s: float, rpm: float | None) -> None:
        self.latency_s = latency_s
        self.rpm = rpm
        self.lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.refused = 0
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.previous_prompt = ""
        self._bucket = max(1.0, rpm / 60.0) if rpm else 0.0
        self._bucket_at = time.monotonic()

    def admit(self) -> bool:
        """Take one request from the bucket; False means answer 429."""
        with self.lock:
            now = time.monotonic()
            self.requests += 1
            if self.rpm:
                rate = self.rpm / 60.0
                self._bucket = min(max(1.0, rate), self._bucket + (now - self._bucket_at) * rate)
                self._bucket_at = now
                if self._bucket < 1.0:
                    self.refused += 1
                    return False
                self._bucket -= 1.0
            self.starts.append(now)
            return True

    def cached_tokens(self, prompt: str) -> int:
        with self.lock:
            previous, self.previous_prompt = self.previous_prompt, prompt
        return _common_prefix(previous, prompt) // CHARS_PER_TOKEN

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "ok": self.ok,
                "refused_429": self.refused,
                "starts": list(self.starts),
                "ends": list(self.ends),
            }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body go out as two packets and wait ~40 ms for an ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/stats"):
            self._send(200, self.server.state.stats())
        elif self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found"}})
            return
        state = self.server.state
        if not state.admit():
            self._send(
                429,
                {"error": {"message": "Rate limit reached (benchmark server)", "type": "rate_limit"}},
                {"Retry-After": f"{60.0 / (state.rpm or 60.0):.3f}"},
            )
            return
        if state.latency_s:
            time.sleep(state.latency_s)
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        content = json.dumps(screening_answer(_schema_of(body)))
        prompt_tokens = max(1, len(prompt) // CHARS_PER_TOKEN)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if body.get("tools") and not body.get("response_format"):
            name = body["tools"][0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": content}}],
            }
        with state.lock:
            state.ok += 1
            state.ends.append(time.monotonic())
        self._send(
            200,
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": max(1, len(content) // CHARS_PER_TOKEN),
                    "total_tokens": prompt_tokens + len(content) // CHARS_PER_TOKEN,
                    "prompt_tokens_details": {"cached_tokens": state.cached_tokens(prompt)},
                },
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    state: _State


class FakeOpenAIServer:
    """The server on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, *, port: int = 0, latency_ms: float = 0.0, rpm: float | None = None) -> None:
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.state = _State(latency_ms / 1000.0, rpm)
        self.port = int(self._httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def stats(self) -> dict[str, Any]:
        return self._httpd.state.stats()

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port, printed on the first line")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rpm", type=float, default=None)
    args = parser.parse_args()
    server = FakeOpenAIServer(port=args.port, latency_ms=args.latency_ms, rpm=args.rpm)
    print(server.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._httpd.serve_forever()


if __name__ == "__main__":
    main()
