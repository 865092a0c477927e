"""The one retry policy for transport failures: exponential backoff with jitter,
overridden by the server's ``Retry-After`` whenever it sends one."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import tenacity

from winnow.errors import InputError, TransientBackendError

INITIAL_ENV = "WINNOW_RETRY_INITIAL_S"
DEFAULT_INITIAL_S = 1.0


def initial_delay_s() -> float:
    """The first back-off delay: 1 s, or ``WINNOW_RETRY_INITIAL_S`` when set.

    A process-wide setting rather than a flag, because whoever needs it (a test harness
    driving ``winnow`` as a child process, or a local server that recovers in
    milliseconds) sets it once for every command. The production default stays 1 s.

    Raises:
        InputError: the variable is set to something that is not a positive number.
    """
    raw = os.environ.get(INITIAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INITIAL_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InputError(None, f"{INITIAL_ENV}={raw!r}: give the first retry delay as a positive number of seconds")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """Waits ``initial_s * 2**n`` plus up to ``initial_s`` of jitter, capped at ``max_backoff_s``."""

    max_attempts: int = 6
    initial_s: float = field(default_factory=initial_delay_s)
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
