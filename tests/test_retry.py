"""The retry policy: its first delay is 1 s unless ``WINNOW_RETRY_INITIAL_S`` says otherwise."""

from __future__ import annotations

import pytest
import tenacity

from winnow.errors import InputError, TransientBackendError
from winnow.retry import INITIAL_ENV, RetryPolicy


def waits(policy: RetryPolicy, error: Exception, attempts: int) -> list[float]:
    out = []
    for attempt in range(1, attempts + 1):
        state = tenacity.RetryCallState(policy.retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        state.set_exception((type(error), error, None))
        out.append(policy.wait(state))
    return out


def test_production_default_is_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INITIAL_ENV, raising=False)
    policy = RetryPolicy()
    assert policy.initial_s == 1.0
    first, second, third = waits(policy, TransientBackendError("HTTP 503"), 3)
    assert 1.0 <= first <= 2.0 and 2.0 <= second <= 3.0 and 4.0 <= third <= 5.0


def test_environment_sets_the_first_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INITIAL_ENV, "0.01")
    policy = RetryPolicy(max_attempts=3)
    assert policy.initial_s == 0.01
    delays = waits(policy, TransientBackendError("HTTP 503"), 4)
    assert all(0.01 * 2**n <= d <= 0.01 * 2**n + 0.01 for n, d in enumerate(delays))
    assert RetryPolicy(initial_s=2.0).initial_s == 2.0, "an explicit value still wins"


def test_retry_after_overrides_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INITIAL_ENV, "0.01")
    assert waits(RetryPolicy(), TransientBackendError("HTTP 429", retry_after=7), 2) == [7.0, 7.0]
    assert waits(RetryPolicy(max_retry_after_s=3), TransientBackendError("429", retry_after=7), 1) == [3.0]


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(INITIAL_ENV, value)
    with pytest.raises(InputError) as caught:
        RetryPolicy()
    assert caught.value.one_line() == (
        f"<input>: {INITIAL_ENV}={value!r}: give the first retry delay as a positive number of seconds"
    )
