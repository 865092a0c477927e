"""Any OpenAI-compatible chat endpoint: OpenAI itself, Ollama, vLLM, llama.cpp's server.

The openai SDK is used directly (not through a chat-model wrapper) because the
ledger needs exactly what came back: the raw content, usage including cached
tokens, log-probabilities, and the ``Retry-After`` header of a refused call.
Its own retries are off; winnow's retry policy is the only one.

Structured output differs per endpoint: OpenAI honours ``json_schema``;
llama.cpp's server answers it with HTTP 500 but honours ``json_object`` with a
``schema``; some servers only do forced tool calls. In ``auto`` mode the first
call finds the best method that works and later calls reuse it.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC
from typing import Any

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.backends.labels import label_probs_from_candidates, label_value_offset
from winnow.errors import BackendError, TransientBackendError

METHODS = ("json_schema", "json_object", "tools")
_SCHEMA_NOTE = "Reply with one JSON object that matches this JSON schema exactly, and nothing else:\n"


class OpenAICompatibleModel:
    """A chat model behind an OpenAI-style HTTP API."""

    is_embedded = False

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        structured: str = "auto",
        max_concurrency: int | None = None,
        require_key: bool = True,
    ) -> None:
        if not name:
            raise BackendError("openai: give a model name, e.g. openai:gpt-4o-mini")
        if structured not in ("auto", *METHODS):
            raise BackendError(f"openai:{name}: unknown structured-output method {structured!r}")
        self.name = name
        self.model_id = f"openai:{name}"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if require_key:  # False only for --dry-run, which prices the run before anyone buys a key
            self._check_key()
        self.timeout_s = timeout_s
        self.structured = structured
        self.max_concurrency = max_concurrency
        self._method: str | None = None if structured == "auto" else structured
        self._client: Any = None
        self._probe_lock = threading.Lock()
        self._strict_cache: tuple[dict[str, Any], Any] | None = None

    def identity(self) -> dict[str, Any]:
        return {"base_url": self.base_url or "https://api.openai.com/v1"}

    def runtime(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def method(self) -> str | None:
        return self._method

    def _check_key(self) -> None:
        if self._api_key is None and self.base_url is None:
            raise BackendError(f"{self.model_id}: set OPENAI_API_KEY, or pass --base-url for a local server")

    def client(self) -> Any:
        if self._client is None:
            self._check_key()
            import openai

            self._client = openai.OpenAI(
                api_key=self._api_key or "not-needed",
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=0,
            )
        return self._client

    def complete(self, request: ModelRequest) -> ModelResponse:
        if self._method is not None:
            return self._complete_with(self._method, request)
        with self._probe_lock:
            if self._method is not None:
                return self._complete_with(self._method, request)
            refusal: BackendError | None = None
            for method in METHODS:
                try:
                    response = self._complete_with(method, request)
                except _MethodRefused as exc:
                    refusal = exc
                    continue
                self._method = method
                return response
            raise BackendError(f"{self.model_id}: no structured-output method works here (last: {refusal})")

    def batch_method(self) -> str:
        """The structured-output method a batch file asks for: the one chosen, else ``json_schema``.

        A batch cannot probe the endpoint first as a synchronous run does; ``json_schema`` is
        what OpenAI's batch API and vLLM take. llama.cpp's server needs ``--structured-output json_object``.
        """
        return self.structured if self.structured != "auto" else "json_schema"

    def request_body(self, method: str, request: ModelRequest) -> dict[str, Any]:
        """The chat-completions body for ``request``: what a synchronous call posts and a batch line holds.

        One function builds both, so a batch answer and a synchronous one answer the same request.
        """
        body: dict[str, Any] = {
            "model": self.name,
            "messages": list(request.messages),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if method == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": self._strict(request.schema), "strict": True},
            }
        elif method == "json_object":
            body["messages"] = _with_schema_note(request)
            body["response_format"] = {"type": "json_object", "schema": request.schema}
        else:
            body["tools"] = [
                {"type": "function", "function": {"name": request.schema_name, "parameters": request.schema}}
            ]
            body["tool_choice"] = {"type": "function", "function": {"name": request.schema_name}}
        if request.label_field and method != "tools":
            body["logprobs"] = True
            body["top_logprobs"] = 10
        return body

    def _strict(self, schema: dict[str, Any]) -> Any:
        """``strict_subset`` of a run's one schema, made once (it took 160 us a request)."""
        cached = self._strict_cache
        if cached is None or cached[0] is not schema:
            cached = self._strict_cache = (schema, strict_subset(schema))
        return cached[1]

    def response_from_body(self, body: dict[str, Any], method: str, request: ModelRequest) -> ModelResponse:
        """A chat completion as a batch output line carries it, read exactly as a synchronous answer is.

        Raises:
            TransientBackendError: the body is not a chat completion with a choice.
        """
        if not isinstance(body, dict):
            raise TransientBackendError(f"{self.model_id}: unreadable response: not a JSON object", kind="bad_body")
        return self._response(_Fields(body), method, request)

    def _complete_with(self, method: str, request: ModelRequest) -> ModelResponse:
        import openai
        from openai.types.chat import ChatCompletion

        kwargs = self.request_body(method, request)
        try:
            # post() sends the same body as chat.completions.create() without the SDK's
            # per-call walk over the typed params (which changes nothing here: no aliases),
            # which cost ~1.7 ms of CPU per call, most of the client-side time.
            completion = self.client().post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
        except openai.APIStatusError as exc:
            raise _classify_status(
                self.model_id, method, exc, probing=self._method is None, secret=self._api_key
            ) from None
        except openai.APITimeoutError:
            raise TransientBackendError(
                f"{self.model_id}: timed out after {self.timeout_s:g}s", kind="timeout"
            ) from None
        except openai.APIConnectionError as exc:
            # The SDK's own text is only "Connection error."; the cause says reset, refused or cut short.
            cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ is not None else ""
            raise TransientBackendError(
                f"{self.model_id}: connection failed: {exc}{cause}", kind="connection"
            ) from None
        except (ValueError, json.JSONDecodeError) as exc:
            raise TransientBackendError(f"{self.model_id}: unreadable response: {exc}", kind="bad_body") from None
        return self._response(completion, method, request)

    def _response(self, completion: Any, method: str, request: ModelRequest) -> ModelResponse:
        if not getattr(completion, "choices", None):
            raise TransientBackendError(f"{self.model_id}: response has no choices", kind="bad_body")
        choice = completion.choices[0]
        message = choice.message
        if method == "tools" and message.tool_calls:
            text = message.tool_calls[0].function.arguments or ""
        else:
            text = message.content or ""
        usage = completion.usage
        cached = None
        if usage is not None and getattr(usage, "prompt_tokens_details", None) is not None:
            cached = getattr(usage.prompt_tokens_details, "cached_tokens", None)
        probs = _label_probs(choice, text, request)
        return ModelResponse(
            text=text,
            served_model=completion.model or self.name,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            cached_tokens=cached,
            label_probs=probs,
            confidence_source="token_logprobs" if probs else "none",
            structured_method=method,
            finish_reason=choice.finish_reason,
        )


_UNSUPPORTED_IN_STRICT = frozenset(
    {"maxLength", "minLength", "pattern", "format", "minimum", "maximum", "maxItems", "minItems"}
)


def strict_subset(schema: Any) -> Any:
    """The schema without the length and range keywords that strict modes reject.

    winnow still enforces those bounds when it validates the answer, so nothing is
    lost: an answer that breaks them is re-asked like any other invalid answer.
    """
    if isinstance(schema, dict):
        return {k: strict_subset(v) for k, v in schema.items() if k not in _UNSUPPORTED_IN_STRICT}
    if isinstance(schema, list):
        return [strict_subset(v) for v in schema]
    return schema


class _Fields:
    """A JSON object read through attributes, as the SDK's response types are: a missing field is None.

    ``_response`` reads a synchronous answer's SDK object and a batch line's parsed JSON
    through this one view. Building the SDK object for a batch line instead took 143 us
    a line, over two minutes for a million answers.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return _view(self._data.get(name))


def _view(value: Any) -> Any:
    if isinstance(value, dict):
        return _Fields(value)
    if isinstance(value, list):
        return [_view(item) for item in value]
    return value


class _MethodRefused(BackendError):
    """The endpoint rejected this structured-output method; try the next one."""


def _with_schema_note(request: ModelRequest) -> list[dict[str, str]]:
    note = _SCHEMA_NOTE + json.dumps(request.schema, separators=(",", ":"))
    messages = [dict(m) for m in request.messages]
    if messages and messages[0]["role"] == "system":
        messages[0]["content"] = messages[0]["content"] + "\n\n" + note
    else:
        messages.insert(0, {"role": "system", "content": note})
    return messages


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name in ("retry-after-ms", "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            from datetime import datetime
            from email.utils import parsedate_to_datetime

            try:
                seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                continue
        return max(0.0, seconds / 1000.0 if name == "retry-after-ms" else seconds)
    return None


def _classify_status(model_id: str, method: str, exc: Any, *, probing: bool, secret: str | None) -> BackendError:
    status = int(getattr(exc, "status_code", 0) or 0)
    detail = " ".join(str(getattr(exc, "message", exc)).split())[:300]
    if secret:
        detail = detail.replace(secret, "***")
    if probing and method != "tools" and status in (400, 422, 500, 501):
        return _MethodRefused(f"{model_id}: {method} refused with HTTP {status}: {detail}")
    if status == 429 or status >= 500 or status == 408:
        return TransientBackendError(
            f"{model_id}: HTTP {status}: {detail}", retry_after=_retry_after(exc), kind=f"http_{status}"
        )
    return BackendError(f"{model_id}: HTTP {status}: {detail}")


def _label_probs(choice: Any, text: str, request: ModelRequest) -> dict[str, float] | None:
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content or not request.label_field:
        return None
    offset = label_value_offset(text, request.label_field)
    if offset is None:
        return None
    position = 0
    for token in content:
        end = position + len(token.token)
        if end > offset or (position == offset and token.token):
            pairs = [(top.token, top.logprob) for top in (token.top_logprobs or [])]
            if not pairs:
                pairs = [(token.token, token.logprob)]
            if position < offset:
                cut = offset - position
                pairs = [(tok[cut:], lp) for tok, lp in pairs if len(tok) > cut]
            return label_probs_from_candidates(pairs, request.labels)
        position = end
    return None
