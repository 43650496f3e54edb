#!/usr/bin/env bash
# Turns the stdout of `preflight check --json` (under GitHub Actions it also holds
# `::add-mask::` and `::error` lines) into GITHUB_OUTPUT lines: passed, hf-/modal-status,
# -code, -user, -permission, and the JSON document itself (multi-line form).
# Uses jq when it is installed, python3 otherwise; PF_JSON_PARSER=jq|python3 forces one.
#
# JSON (schema_version 1): {"schema_version":1,"passed":bool,"results":[{"provider":"hf"|"modal",
#   "status":"VALID|INVALID|EXPIRED|MISSING|UNKNOWN","code":"PF003"|null,
#   "identity":{"name":..}|null,"permission":{"verdict":..,"reason":..}|null,...}]}
set -euo pipefail

report="${1:?usage: outputs.sh CHECK_OUTPUT_FILE}"
parser="${PF_JSON_PARSER:-}"
if [[ -z "$parser" ]]; then
    if command -v jq >/dev/null; then parser=jq; else parser=python3; fi
fi

json="$(grep -v '^::' "$report" || true)"
fields=""
case "$parser" in
jq)
    fields="$(jq -r '
        (.results // [] | map({key: .provider, value: .}) | from_entries) as $r
        | "passed=\(.passed == true)",
          (["hf", "modal"][] as $p
           | ($r[$p] // {}) as $x
           | "\($p)-status=\($x.status // "")",
             "\($p)-code=\($x.code // "")",
             "\($p)-user=\($x.identity.name // "")",
             "\($p)-permission=\($x.permission.verdict // "")")
        | gsub("[\r\n]"; " ")' <<<"$json" 2>/dev/null)" || fields=""
    ;;
python3)
    fields="$(python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
by = {r.get("provider"): r for r in doc.get("results") or []}
lines = ["passed=%s" % ("true" if doc.get("passed") is True else "false")]
for p in ("hf", "modal"):
    r = by.get(p) or {}
    lines += [
        "%s-status=%s" % (p, r.get("status") or ""),
        "%s-code=%s" % (p, r.get("code") or ""),
        "%s-user=%s" % (p, (r.get("identity") or {}).get("name") or ""),
        "%s-permission=%s" % (p, (r.get("permission") or {}).get("verdict") or ""),
    ]
print("\n".join(l.replace("\r", " ").replace("\n", " ") for l in lines))
' <<<"$json" 2>/dev/null)" || fields=""
    ;;
*) echo "PF_JSON_PARSER must be jq or python3" >&2; exit 2 ;;
esac

if [[ -z "$fields" ]]; then
    # No JSON (a usage error, a crash): report a failure with empty statuses.
    echo "::warning title=preflight::could not read preflight's JSON output" >&2
    fields="passed=false"
    for p in hf modal; do fields+=$'\n'"$p-status="$'\n'"$p-code="$'\n'"$p-user="$'\n'"$p-permission="; done
    json="{}"
fi
printf '%s\n' "$fields"
delimiter="PREFLIGHT_JSON_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf 'json<<%s\n%s\n%s\n' "$delimiter" "$json" "$delimiter"
