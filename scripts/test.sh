#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what the tests need (a pinned Python
# venv with the official huggingface_hub and modal clients, LLVM tools for coverage, the
# linters), then runs fmt, clippy, cargo-deny, every Rust test under coverage (one
# instrumented build serves the Rust tests, the Python package and the Python tests), and prints
# the coverage table, failing if a gated crate drops below its target.
#
# Usage: scripts/test.sh            # everything
#        SKIP_LINT=1 scripts/test.sh # tests only (fmt/clippy/deny/shear/dependency checks skipped)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
LLVM_BIN=/usr/lib/llvm-19/bin
# Crates whose line coverage is gated, with their targets (the plan's 90%).
COVERAGE_GATES="preflight-auth:90 preflight-retry:90"

step() { printf '\n==> %s\n' "$*"; }
FAILED_STEPS=()
# Runs a test step; a failure is recorded and the remaining steps still run, so one run
# shows every problem. The script exits non-zero at the end if any step failed.
run_step() {
    local name="$1"
    shift
    if ! "$@"; then
        FAILED_STEPS+=("$name")
        printf '==> FAILED: %s\n' "$name" >&2
    fi
}

ensure_llvm() {
    if [[ -x "$LLVM_BIN/llvm-cov" && -x "$LLVM_BIN/llvm-profdata" ]]; then return; fi
    step "installing llvm-19 (coverage tools) from Debian"
    if [[ "$(id -u)" != 0 ]]; then
        echo "error: llvm-19 is missing and installing it needs root: sudo apt-get install llvm-19" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-19 >/dev/null
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum tests/requirements.txt | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return; fi
    step "creating the test venv ($VENV) from tests/requirements.txt"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
    echo "$want" >"$stamp"
}

ensure_llvm
ensure_venv
export PATH="$VENV/bin:$PATH"
export PREFLIGHT_TEST_PYTHON="$VENV/bin/python"
export PREFLIGHT_TEST_MODAL_CLI="$VENV/bin/modal"
export LLVM_COV="$LLVM_BIN/llvm-cov" LLVM_PROFDATA="$LLVM_BIN/llvm-profdata"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if [[ -z "${SKIP_LINT:-}" ]]; then
    step "cargo fmt --check"
    cargo fmt --all --check
    step "cargo clippy (all targets, warnings are errors)"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    step "cargo deny (bans, licenses, sources; advisories need the network and run on GitHub)"
    cargo-deny --log-level error check bans licenses sources
    step "cargo shear (no declared dependency goes unused)"
    cargo-shear --locked --deny-warnings
    step "the CLI builds without the bundled emulator (--no-default-features)"
    cargo check -p preflight-cli --no-default-features --locked
    if cargo tree -p preflight-cli -e normal --no-default-features --locked | grep -q 'hub-emulator'; then
        echo "error: preflight-cli pulls in hub-emulator without the demo feature" >&2
        exit 1
    fi
    # The upload library must not drag in the credential machinery (process control, profiles).
    if cargo tree -p preflight-hub -e normal --locked | grep -Eq ' (nix|toml|preflight-auth) v'; then
        echo "error: preflight-hub depends on nix, toml or preflight-auth" >&2
        exit 1
    fi
fi

step "building everything once, instrumented for coverage"
eval "$(cargo-llvm-cov llvm-cov show-env --sh 2>/dev/null)"
cargo-llvm-cov llvm-cov clean --workspace
cargo build --workspace --bins --locked
export HUB_EMULATOR_BIN="$ROOT/target/debug/hub-emulator"
export PREFLIGHT_BIN="$ROOT/target/debug/preflight"

step "the Python package into the test venv (maturin develop: dev profile, instrumented, reusing the build above)"
python_package() {
    local started=$SECONDS
    VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --locked --quiet
    echo "built and installed in $((SECONDS - started)) s"
}
run_step "Python package" python_package

step "Rust tests (cargo nextest)"
run_step "Rust tests" cargo nextest run --workspace --locked --no-fail-fast

step "Python tests (the official clients against the emulator; the package preflight)"
python_tests() {
    if ! compgen -G "tests/python/test_*.py" >/dev/null; then
        echo "no Python tests found" >&2
        return 1
    fi
    (cd tests/python && HF_HUB_DISABLE_XET=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider .)
}
run_step "Python tests" python_tests

if [[ -d .github ]]; then
    step "workflow checks (actionlint, zizmor, action schema)"
    run_step "workflow checks" scripts/check-workflows.sh
fi

step "coverage"
cargo-llvm-cov llvm-cov report --summary-only
cargo-llvm-cov llvm-cov report --json --summary-only --output-path target/coverage.json
run_step "coverage gate" "$VENV/bin/python" scripts/coverage_gate.py target/coverage.json $COVERAGE_GATES

if ((${#FAILED_STEPS[@]})); then
    printf '\n==> %s\n' "FAILED: ${FAILED_STEPS[*]}" >&2
    exit 1
fi
printf '\n==> %s\n' "all checks passed"
