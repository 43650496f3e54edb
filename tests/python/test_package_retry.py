"""`retry_with_backoff`, `RetryManager` and `RetryConfig`: the Python loop follows the Rust
policy (preflight-retry's RetryPlanner), delay for delay."""

import asyncio
import time

import pytest

from preflight import PreflightUsageError, RetryConfig, RetryManager, retry_with_backoff

# Small waits keep the suite fast; jitter "equal" with a seed makes them exact.
FAST = dict(initial_delay=0.01, max_delay=0.04, multiplier=2.0)


class Flaky:
    """Fails with `error` the first `failures` calls, then returns "ok"."""

    def __init__(self, failures, error=ConnectionError):
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"attempt {self.calls} failed")
        return ("ok", args, kwargs)


def recorder():
    seen = []
    return seen, lambda attempt, error, delay: seen.append((attempt, type(error).__name__, delay))


def test_decorator_retries_then_succeeds():
    seen, on_retry = recorder()
    flaky = Flaky(2)
    config = RetryConfig(max_attempts=4, jitter="equal", seed=11, **FAST)

    @retry_with_backoff(config=config, on_retry=on_retry)
    def upload(path, *, step):
        return flaky(path, step=step)

    started = time.monotonic()
    assert upload("ckpt", step=3) == ("ok", ("ckpt",), {"step": 3})
    assert flaky.calls == 3
    # The waits are exactly the Rust policy's for this config and seed.
    assert [delay for _, _, delay in seen] == config.delays()[:2]
    assert [attempt for attempt, _, _ in seen] == [1, 2]
    assert time.monotonic() - started >= sum(config.delays()[:2])
    assert upload.__name__ == "upload"


def test_decorator_gives_up_after_max_attempts_with_the_last_error():
    flaky = Flaky(10)
    decorated = retry_with_backoff(RetryConfig(max_attempts=3, jitter="none", **FAST))(flaky)
    with pytest.raises(ConnectionError, match="attempt 3 failed"):
        decorated()
    assert flaky.calls == 3


def test_non_retryable_exception_is_raised_at_once():
    flaky = Flaky(5, error=KeyError)
    decorated = retry_with_backoff(RetryConfig(**FAST), retryable_exceptions=(ConnectionError,))(flaky)
    with pytest.raises(KeyError):
        decorated()
    assert flaky.calls == 1


def test_bare_decorator_uses_the_defaults():
    calls = []

    @retry_with_backoff
    def once():
        calls.append(1)
        return 42

    assert once() == 42 and calls == [1]


def test_async_decorator():
    seen, on_retry = recorder()
    failures = {"left": 2}
    config = RetryConfig(max_attempts=3, jitter="full", seed=5, **FAST)

    @retry_with_backoff(config, retryable_exceptions=TimeoutError, on_retry=on_retry)
    async def fetch():
        await asyncio.sleep(0)
        if failures["left"]:
            failures["left"] -= 1
            raise TimeoutError("slow")
        return "done"

    assert asyncio.run(fetch()) == "done"
    assert [delay for _, _, delay in seen] == config.delays()


def test_execute_success_retry_and_exhaustion():
    manager = RetryManager(RetryConfig(max_attempts=3, jitter="none", **FAST))
    assert manager.execute(lambda x: x * 2, 21) == 42

    flaky = Flaky(1)
    assert manager.execute(flaky, 1, key="v") == ("ok", (1,), {"key": "v"})
    assert flaky.calls == 2

    always = Flaky(99)
    with pytest.raises(ConnectionError, match="attempt 3 failed"):
        manager.execute(always)
    assert always.calls == 3


def test_execute_async_success_retry_and_exhaustion():
    seen, on_retry = recorder()
    config = RetryConfig(max_attempts=3, jitter="none", **FAST)
    manager = RetryManager(config, on_retry=on_retry)

    async def run(flaky):
        async def call():
            return flaky()

        return await manager.execute_async(call)

    assert asyncio.run(run(Flaky(0)))[0] == "ok"
    assert asyncio.run(run(Flaky(2)))[0] == "ok"
    with pytest.raises(ConnectionError):
        asyncio.run(run(Flaky(9)))
    # Jitter "none": 0.01 then 0.02, for each of the two retried runs.
    assert [delay for _, _, delay in seen] == [0.01, 0.02, 0.01, 0.02]
    assert config.delays() == [0.01, 0.02]


def test_deadline_stops_before_a_wait_that_would_pass_it():
    flaky = Flaky(99)
    config = RetryConfig(max_attempts=10, initial_delay=0.2, max_delay=0.2, jitter="none", deadline=0.3)
    with pytest.raises(ConnectionError):
        RetryManager(config).execute(flaky)
    # Waits of 0.2 s: the second would end past 0.3 s, so two attempts were made.
    assert flaky.calls == 2


def test_retry_after_attribute_replaces_the_delay_capped():
    class RateLimited(ConnectionError):
        retry_after = 5.0

    seen, on_retry = recorder()
    flaky = Flaky(1, error=RateLimited)
    config = RetryConfig(max_attempts=2, jitter="none", max_retry_after=0.05, **FAST)
    RetryManager(config, on_retry=on_retry).execute(flaky)
    assert [delay for _, _, delay in seen] == [0.05]


def test_schedule_is_the_rust_policy():
    config = RetryConfig(max_attempts=6, initial_delay=1.0, max_delay=8.0, jitter="none")
    assert config.delays() == [1.0, 2.0, 4.0, 8.0, 8.0]
    seeded = RetryConfig(max_attempts=5, jitter="equal", seed=42)
    assert seeded.delays() == RetryConfig(max_attempts=5, jitter="equal", seed=42).delays()
    for delay, base in zip(seeded.delays(), [1.0, 2.0, 4.0, 8.0]):
        assert base / 2 <= delay <= base
    assert RetryConfig().max_attempts == 3 and RetryConfig().jitter == "equal"
    assert "max_attempts=3" in repr(RetryConfig())


def test_bad_config_raises_with_pf009():
    for kwargs in ({"max_attempts": 0}, {"jitter": "loud"}, {"multiplier": 0.5}, {"initial_delay": -1.0}):
        with pytest.raises(PreflightUsageError) as raised:
            RetryConfig(**kwargs)
        assert raised.value.code == "PF009"


def test_from_env_reads_the_cli_variables(monkeypatch):
    monkeypatch.setenv("PREFLIGHT_RETRY_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("PREFLIGHT_RETRY_JITTER", "none")
    monkeypatch.delenv("PREFLIGHT_TEST_NO_RETRY_DELAY", raising=False)
    config = RetryConfig.from_env()
    assert config.max_attempts == 7 and config.jitter == "none"
    assert config.delays()[:4] == [1.0, 2.0, 4.0, 8.0]
    monkeypatch.setenv("PREFLIGHT_RETRY_MAX_ATTEMPTS", "many")
    with pytest.raises(PreflightUsageError, match="PREFLIGHT_RETRY_MAX_ATTEMPTS"):
        RetryConfig.from_env()
