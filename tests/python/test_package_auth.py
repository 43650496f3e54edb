"""`preflight.AuthValidator` against the Hub emulator and the fake Modal control plane (real
servers, not mocks), through the Rust validator the CLI uses."""

import pytest

from conftest import admin, start_emulator
from package_support import FakeModal, isolated_env, modal_cli  # noqa: F401

from preflight import AuthValidator, PreflightError, PreflightUsageError, TokenStatus, TokenValidationResult

# Shapes the auth log's regexes do not catch (`hf_` + 20 alnum, `ak-`/`as-` + 10 alnum), so a
# token that stays out of the output was kept out by discovery and registration, not by luck.
WRITE = "hf_pkg-write_alice-0123456789abcdef"
READ = "hf_pkg-read_alice-0123456789abcdefg"
REVOKED = "hf_pkg-revoked_alice-0123456789abcd"
MODAL_ID = "ak-pkg_valid_id_0123"
MODAL_SECRET = "as-pkg_valid_secret_0123"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    emulator = start_emulator(
        tmp_path_factory.mktemp("package-auth"),
        "--token", f"{WRITE}=alice:write",
        "--token", f"{READ}=alice:read",
        "--token", f"{REVOKED}=alice:write",
    )
    admin(emulator, "/_emulator/tokens/revoke", {"token": REVOKED})
    yield emulator
    emulator.stop()


def assert_no_secret(result: TokenValidationResult, *secrets: str) -> None:
    for text in (repr(result), str(result)):
        for secret in secrets:
            assert secret not in text


def test_write_token_is_valid_and_may_write(hub, isolated_env):
    isolated_env.setenv("HF_TOKEN", WRITE)
    result = AuthValidator(endpoint=hub.url).validate_hf_token(repo="alice/dit-xl", need="write")
    assert result.status is TokenStatus.VALID
    assert result.passed and result.code is None
    assert result.source == "env:HF_TOKEN"
    assert result.masked_token == "hf_…cdef"
    assert result.identity.name == "alice"
    assert result.token_role == "write"
    assert result.permission.verdict == "allowed"
    assert result.raise_for_status() is result
    assert_no_secret(result, WRITE)


def test_read_token_may_not_write(hub, isolated_env):
    isolated_env.setenv("HF_TOKEN", READ)
    result = AuthValidator(endpoint=hub.url).validate_hf_token(repo="alice/dit-xl", need="write")
    assert result.status is TokenStatus.VALID
    assert not result.passed
    assert result.code == "PF005"
    assert result.permission.verdict == "forbidden"
    with pytest.raises(PreflightError) as raised:
        result.raise_for_status()
    assert raised.value.code == "PF005"
    assert READ not in str(raised.value)


def test_revoked_token_is_invalid(hub, isolated_env):
    isolated_env.setenv("HF_TOKEN", REVOKED)
    result = AuthValidator(endpoint=hub.url).validate_hf_token()
    assert result.status is TokenStatus.INVALID
    assert result.code == "PF003"
    assert result.remediation
    assert_no_secret(result, REVOKED)


def test_missing_token(hub, isolated_env):
    result = AuthValidator(endpoint=hub.url).validate_hf_token()
    assert result.status is TokenStatus.MISSING
    assert result.code == "PF001"
    assert not result.configured
    assert "HF_TOKEN is not set" in result.message


def test_token_file_is_found_like_the_official_client(hub, isolated_env, tmp_path):
    token_file = tmp_path / "hf-home" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text(WRITE + "\n")
    result = AuthValidator(endpoint=hub.url).validate_hf_token()
    assert result.status is TokenStatus.VALID
    assert result.source == f"file:{token_file}"


def test_invalid_format_is_never_sent(hub, isolated_env):
    isolated_env.setenv("HF_TOKEN", "hf_has a space_0123456789")
    result = AuthValidator(endpoint=hub.url).validate_hf_token()
    assert result.status is TokenStatus.INVALID
    assert result.code == "PF002"
    assert "not sent" in result.message


def test_unreachable_hub_is_unknown(isolated_env):
    isolated_env.setenv("HF_TOKEN", WRITE)
    result = AuthValidator(endpoint="http://127.0.0.1:9", timeout=2.0).validate_hf_token()
    assert result.status is TokenStatus.UNKNOWN
    assert result.code == "PF006"


def test_bad_arguments_raise_with_pf009(isolated_env):
    with pytest.raises(PreflightUsageError) as raised:
        AuthValidator().validate_hf_token(repo="not a repo id", need="write")
    assert raised.value.code == "PF009"
    assert isinstance(raised.value, ValueError)
    with pytest.raises(PreflightUsageError):
        AuthValidator().validate_hf_token(need="admin")
    with pytest.raises(PreflightUsageError):
        AuthValidator(timeout=-1).validate_hf_token()


def test_modal_cli_not_found(isolated_env, tmp_path):
    # The native check needs no CLI; the CLI path (the plan's "Modal CLI not found") is chosen
    # as on the command line.
    isolated_env.setenv("PREFLIGHT_MODAL_VIA", "cli")
    isolated_env.setenv("MODAL_TOKEN_ID", MODAL_ID)
    isolated_env.setenv("MODAL_TOKEN_SECRET", MODAL_SECRET)
    isolated_env.setenv("PATH", str(tmp_path / "empty-bin"))
    result = AuthValidator().validate_modal_token()
    assert result.status is TokenStatus.UNKNOWN
    assert result.code == "PF107"
    assert "pip install modal" in (result.remediation or "")
    assert_no_secret(result, MODAL_ID, MODAL_SECRET)


def test_modal_no_credentials(isolated_env):
    result = AuthValidator(modal_cli=modal_cli()).validate_modal_token()
    assert result.status is TokenStatus.MISSING
    assert result.code == "PF101"
    assert not result.configured


def test_modal_valid_token_against_the_fake_control_plane(isolated_env, tmp_path):
    fake = FakeModal(tmp_path, f"{MODAL_ID}:{MODAL_SECRET}:fake-ws:fakeuser")
    try:
        isolated_env.setenv("MODAL_SERVER_URL", fake.url)
        isolated_env.setenv("MODAL_TOKEN_ID", MODAL_ID)
        isolated_env.setenv("MODAL_TOKEN_SECRET", MODAL_SECRET)
        validator = AuthValidator(modal_cli=modal_cli(), modal_timeout=60)
        result = validator.validate_modal_token()
        assert result.status is TokenStatus.VALID, result
        assert result.identity.workspace == "fake-ws"
        assert_no_secret(result, MODAL_ID, MODAL_SECRET)

        isolated_env.setenv("MODAL_TOKEN_SECRET", "as-pkg_wrong_secret_0123")
        rejected = validator.validate_modal_token()
        assert rejected.status is TokenStatus.INVALID
        assert rejected.code == "PF105"
        assert_no_secret(rejected, MODAL_ID, "as-pkg_wrong_secret_0123")
    finally:
        fake.stop()


def test_validate_all_tokens(hub, isolated_env):
    isolated_env.setenv("HF_TOKEN", WRITE)
    results = AuthValidator(endpoint=hub.url, modal_cli=modal_cli()).validate_all_tokens()
    assert set(results) == {"hf", "modal"}
    assert results["hf"].status is TokenStatus.VALID
    assert results["modal"].status is TokenStatus.MISSING
    assert results["modal"].provider == "modal"


def test_a_bad_preflight_modal_via_is_a_usage_error(isolated_env):
    isolated_env.setenv("PREFLIGHT_MODAL_VIA", "grpc")
    isolated_env.setenv("MODAL_TOKEN_ID", MODAL_ID)
    isolated_env.setenv("MODAL_TOKEN_SECRET", MODAL_SECRET)
    with pytest.raises(PreflightUsageError) as raised:
        AuthValidator().validate_modal_token()
    assert raised.value.code == "PF009"
    assert "PREFLIGHT_MODAL_VIA" in str(raised.value)
