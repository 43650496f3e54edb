#!/usr/bin/env bash
# Runs `preflight check --json` for the composite action, streams its output to the log
# (masks first, then the JSON, then the ::error annotations), sets the step outputs from the
# JSON and fails the step when a check failed (unless PF_FAIL_ON_ERROR=false).
set -uo pipefail

out="${GITHUB_OUTPUT:-/dev/stdout}"
bin="${PF_BIN:?the install step did not report a preflight path}"
args=(check)
for provider in ${PF_PROVIDERS//,/ }; do
    case "$provider" in
    hf | modal) args+=("$provider") ;;
    *) echo "::error title=preflight inputs::unknown provider '$provider' (use hf, modal)"; exit 1 ;;
    esac
done
if [[ -n "${PF_REPO:-}" ]]; then
    args+=(--repo "$PF_REPO" --repo-type "${PF_REPO_TYPE:-model}" --need "${PF_NEED:-write}")
fi
if [[ -n "${PF_ENDPOINT:-}" ]]; then args+=(--endpoint "$PF_ENDPOINT"); fi
# Keyless: the id token is minted from the runner's ACTIONS_ID_TOKEN_REQUEST_* (id-token: write).
if [[ -n "${PF_OIDC_RESOURCE:-}" ]]; then export HF_OIDC_RESOURCE="$PF_OIDC_RESOURCE"; fi
if [[ -n "${PF_TIMEOUT:-}" ]]; then args+=(--timeout "$PF_TIMEOUT"); fi
args+=(--json)

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"$bin" "${args[@]}" | tee "$report"
status=${PIPESTATUS[0]}

echo "exit-code=$status" >>"$out"
bash "$(dirname "${BASH_SOURCE[0]}")/outputs.sh" "$report" >>"$out"

if [[ "$status" != 0 && "${PF_FAIL_ON_ERROR:-true}" != false ]]; then
    echo "preflight check failed (exit $status); see the annotation and the job summary" >&2
    exit "$status"
fi
exit 0
