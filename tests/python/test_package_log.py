"""`setup_auth_logging`: one JSON-lines file in the CLI's schema (docs/auth-log.md) holding the
Rust validation and retry events and the program's own records, with no token in it."""

import json
import logging
import re

import pytest

from conftest import start_emulator
from package_support import isolated_env, read_log  # noqa: F401

from preflight import AuthValidator, RetryConfig, RetryManager, TokenStatus, redact, setup_auth_logging

# Not `hf_` + 20 alnum: only discovery + registration can keep it out of the log.
TOKEN = "hf_pkg-log_alice-0123456789abcdefgh"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("package-log"), "--token", f"{TOKEN}=alice:write")
    yield emulator
    emulator.stop()


def test_log_holds_schema_lines_the_validation_event_and_no_token(hub, isolated_env, tmp_path):
    isolated_env.setenv("HF_TOKEN", TOKEN)
    path = tmp_path / "logs" / "auth.log"
    logger = setup_auth_logging(path, level=logging.INFO)
    assert isinstance(logger, logging.Logger)

    result = AuthValidator(endpoint=hub.url).validate_hf_token(repo="alice/dit-xl", need="write")
    assert result.status is TokenStatus.VALID
    logger.info("uploading with %s", TOKEN, extra={"event": "upload_started", "repo": "alice/dit-xl"})
    logger.debug("not written at INFO")
    try:
        raise ConnectionError(f"reset while sending {TOKEN}")
    except ConnectionError:
        logger.exception("upload failed")

    text = path.read_text()
    assert TOKEN not in text
    lines = read_log(path)
    for line in lines:
        assert list(line)[:7] == ["v", "ts", "level", "event", "target", "pid", "fields"]
        assert line["v"] == 1 and TIMESTAMP.match(line["ts"]) and line["target"].startswith("preflight")

    validated = [line for line in lines if line["event"] == "token_validated"]
    assert len(validated) == 1
    fields = validated[0]["fields"]
    assert fields["provider"] == "hf" and fields["status"] == "VALID"
    assert fields["masked_token"] == "hf_…efgh"
    assert fields["source"] == "env:HF_TOKEN" and fields["permission"] == "allowed"
    assert isinstance(fields["latency_ms"], int)

    started = [line for line in lines if line["event"] == "upload_started"]
    assert len(started) == 1
    assert started[0]["target"] == "preflight::python"
    assert started[0]["fields"]["message"] == "uploading with hf_…efgh"
    assert started[0]["fields"]["repo"] == "alice/dit-xl"
    assert started[0]["fields"]["logger"] == "preflight"
    assert not any("not written" in json.dumps(line) for line in lines)
    failed = [line for line in lines if line["level"] == "ERROR"]
    assert len(failed) == 1 and "ConnectionError" in failed[0]["fields"]["exception"]


def test_retry_events_land_in_the_log(isolated_env, tmp_path):
    path = tmp_path / "auth.log"
    setup_auth_logging(path)
    calls = []

    def flaky():
        calls.append(1)
        raise ConnectionError("connection refused")

    config = RetryConfig(max_attempts=2, initial_delay=0.01, jitter="none")
    with pytest.raises(ConnectionError):
        RetryManager(config).execute(flaky)
    events = [line for line in read_log(path) if line["target"] == "preflight::retry"]
    assert [line["event"] for line in events] == ["retry", "retry_gave_up"]
    assert events[0]["fields"]["delay_ms"] == 10
    assert events[0]["fields"]["error_kind"] == "ConnectionError"
    assert events[1]["fields"]["reason"] == "attempts_exhausted"
    assert events[1]["level"] == "WARN"


def test_setup_again_replaces_the_file_and_off_disables(isolated_env, tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    logger = setup_auth_logging(first)
    logger.warning("one")
    logger = setup_auth_logging(second)
    logger.warning("two")
    assert [line["fields"]["message"] for line in read_log(first)] == ["one"]
    assert [line["fields"]["message"] for line in read_log(second)] == ["two"]
    assert sum(1 for h in logger.handlers if type(h).__name__ == "AuthLogHandler") == 1
    setup_auth_logging("off").warning("three")
    assert len(read_log(second)) == 1


def test_unwritable_log_is_a_warning(isolated_env, tmp_path):
    (tmp_path / "dir.log").mkdir()
    with pytest.warns(RuntimeWarning, match="auth log"):
        setup_auth_logging(tmp_path / "dir.log")


def test_redact_masks_registered_and_shaped_secrets(isolated_env):
    isolated_env.setenv("HF_TOKEN", "hf_pkg-redact-0123456789abcdefghij")
    setup_auth_logging(None)
    assert redact("token hf_pkg-redact-0123456789abcdefghij") == "token hf_…ghij"
    assert redact("Bearer abc.def") == "Bearer ****"


def test_hub_check_retries_503_with_the_rust_policy_and_logs_it(isolated_env, tmp_path):
    emulator = start_emulator(tmp_path, "--token", f"{TOKEN}=alice:write",
                              "--fault", "GET /api/whoami-v2 status=503 times=2")
    try:
        isolated_env.setenv("HF_TOKEN", TOKEN)
        path = tmp_path / "auth.log"
        setup_auth_logging(path)
        result = AuthValidator(endpoint=emulator.url).validate_hf_token()
        assert result.status is TokenStatus.VALID
        lines = read_log(path)
        retries = [line for line in lines if line["event"] == "retry"]
        assert [line["fields"]["error_kind"] for line in retries] == ["status_503", "status_503"]
        assert TOKEN not in path.read_text()
    finally:
        emulator.stop()
