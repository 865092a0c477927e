"""The one retry policy for transport failures: exponential backoff with jitter,
overridden by the server's ``Retry-After`` whenever it sends one."""

from __future__ import annotations

from dataclasses import dataclass

import tenacity

from winnow.errors import TransientBackendError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_s: float = 1.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 600.0

    def wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.max_retry_after_s)
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.initial_s, max=self.max_backoff_s, jitter=self.initial_s
        )
        return float(backoff(state))

    def retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self.wait,
            retry=tenacity.retry_if_exception_type(TransientBackendError),
            reraise=True,
        )
