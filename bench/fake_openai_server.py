"""An OpenAI-compatible chat server that answers at once, for benchmarks: no model behind it.

Usage: python bench/fake_openai_server.py [--port P] [--latency-ms L] [--rpm N] [--fast]

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
``--fast`` serves with asyncio and a minimal HTTP/1.1 reader instead of a thread
per connection and ``http.server``'s header parsing: hundreds of calls a second on
one core, so a benchmark of winnow's rate on two cores measures winnow, not this.
"""

from __future__ import annotations

import argparse
import asyncio
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
        state = self.server.state
        refused = refusal(state, self.path)
        if refused is not None:
            self._send(*refused)
            return
        if state.latency_s:
            time.sleep(state.latency_s)
        self._send(*answer(state, body))


Reply = tuple[int, dict[str, Any], dict[str, str]]


def refusal(state: _State, path: str) -> Reply | None:
    """A 404 for a path that is not the chat endpoint, a 429 over the limit, else None (admitted)."""
    if not path.rstrip("/").endswith("/chat/completions"):
        return 404, {"error": {"message": "not found"}}, {}
    if not state.admit():
        return (
            429,
            {"error": {"message": "Rate limit reached (benchmark server)", "type": "rate_limit"}},
            {"Retry-After": f"{60.0 / (state.rpm or 60.0):.3f}"},
        )
    return None


def answer(state: _State, body: dict[str, Any]) -> Reply:
    """Status, JSON payload and extra headers of an admitted call: a schema-valid screening answer."""
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
    return (
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
        {},
    )


_REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}


async def _serve_connection(
    state: _State, latency_s: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """HTTP/1.1 with keep-alive, as much of it as the openai SDK uses: a request line, headers, a body."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            data = await reader.readexactly(length) if length else b""
            if method == "GET":
                found = path.rstrip("/").endswith("/stats")
                status, payload, headers = (200, state.stats(), {}) if found else (404, {"error": {}}, {})
            else:
                body = json.loads(data or b"{}")
                refused = refusal(state, path)
                if refused is None and latency_s:
                    await asyncio.sleep(latency_s)  # held without a thread, as a provider holds it
                status, payload, headers = refused or answer(state, body)
            out = json.dumps(payload).encode()
            extra = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(out)}\r\n{extra}\r\n".encode()
                + out
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_fast(state: _State, latency_s: float, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(state, latency_s, r, w), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{bound}/v1", flush=True)
    async with server:
        await server.serve_forever()


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
    parser.add_argument("--fast", action="store_true", help="asyncio, no thread per connection (answers at once)")
    args = parser.parse_args()
    if args.fast:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_fast(_State(0.0, args.rpm), args.latency_ms / 1000.0, args.port))
        return
    server = FakeOpenAIServer(port=args.port, latency_ms=args.latency_ms, rpm=args.rpm)
    print(server.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._httpd.serve_forever()


if __name__ == "__main__":
    main()
