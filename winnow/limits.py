"""Client-side rate limits: requests and tokens per minute, shared by all workers.

Requests are spaced evenly (one every 60/RPM seconds) rather than sent in bursts,
so a provider enforcing the same limit over any window never sees it exceeded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Blocks callers until both the request and the token budget allow one more call."""

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be positive")
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = clock()
        self._tokens = float(tpm) if tpm else 0.0
        self._tokens_at = clock()

    def acquire(self, tokens: int = 0) -> float:
        """Reserve one request (and ``tokens``); returns the seconds waited."""
        if self.rpm is None and self.tpm is None:
            return 0.0
        with self._lock:
            now = self._clock()
            wait = 0.0
            if self.rpm is not None:
                slot = max(self._next_slot, now)
                wait = slot - now
                self._next_slot = slot + 60.0 / self.rpm
            if self.tpm is not None:
                self._tokens = min(float(self.tpm), self._tokens + (now - self._tokens_at) * self.tpm / 60.0)
                self._tokens_at = now
                need = min(float(tokens), float(self.tpm))
                self._tokens -= need
                if self._tokens < 0:
                    wait = max(wait, -self._tokens * 60.0 / self.tpm)
        if wait > 0:
            self._sleep(wait)
        return wait
