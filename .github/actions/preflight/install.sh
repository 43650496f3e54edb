#!/usr/bin/env bash
# Installs preflight for the composite action and writes `path=...` to $GITHUB_OUTPUT.
#   PF_BINARY      a binary already built: used as is, nothing is downloaded (offline runs)
#   PF_INSTALL     release (default) | source
#   PF_VERSION     release tag (v0.1.0); empty = PF_ACTION_REF when it is a v* tag, else latest
#   PF_REPOSITORY  OWNER/NAME publishing the releases (and the source for `source`)
set -euo pipefail

out="${GITHUB_OUTPUT:-/dev/stdout}"
fail() { echo "::error title=preflight install::$*"; exit 1; }

if [[ -n "${PF_BINARY:-}" ]]; then
    [[ -x "$PF_BINARY" ]] || fail "preflight-binary '$PF_BINARY' is not an executable file"
    bin="$(cd "$(dirname "$PF_BINARY")" && pwd)/$(basename "$PF_BINARY")"
    echo "using the given binary: $bin"
    "$bin" --version
    echo "path=$bin" >>"$out"
    exit 0
fi

root="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/preflight"
mkdir -p "$root/bin"
repository="${PF_REPOSITORY:-preflight-dev/preflight}"
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "repository '$repository' is not OWNER/NAME"
version="${PF_VERSION:-}"
if [[ -z "$version" && "${PF_ACTION_REF:-}" =~ ^v[0-9] ]]; then version="$PF_ACTION_REF"; fi
[[ -z "$version" || "$version" == latest || "$version" =~ ^v[0-9][A-Za-z0-9._+-]*$ ]] ||
    fail "version '$version' is not a release tag such as v0.1.0"

case "${PF_INSTALL:-release}" in
release)
    case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
    Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
    macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
    macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
    *) fail "no release binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}; use install: source" ;;
    esac
    asset="preflight-$target.tar.gz"
    if [[ -z "$version" || "$version" == latest ]]; then
        base="https://github.com/$repository/releases/latest/download"
    else
        base="https://github.com/$repository/releases/download/$version"
    fi
    echo "downloading $base/$asset"
    tmp="$(mktemp -d)"
    curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$tmp/$asset" "$base/$asset"
    curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$tmp/$asset.sha256" "$base/$asset.sha256"
    (cd "$tmp" && if command -v sha256sum >/dev/null; then sha256sum -c "$asset.sha256"; else shasum -a 256 -c "$asset.sha256"; fi) ||
        fail "checksum mismatch for $asset"
    tar -xzf "$tmp/$asset" -C "$tmp"
    install -m 0755 "$tmp/preflight-$target/preflight" "$root/bin/preflight"
    rm -rf "$tmp"
    ;;
source)
    command -v cargo >/dev/null || fail "install: source needs cargo on PATH (rustup)"
    # Used from a checkout of the preflight repository itself: build that tree.
    local_src="$(cd "${GITHUB_ACTION_PATH:-.}/../../.." && pwd)/crates/preflight-cli"
    if [[ -f "$local_src/Cargo.toml" ]]; then
        cargo install --locked --root "$root" --path "$local_src"
    elif [[ -n "$version" && "$version" != latest ]]; then
        cargo install --locked --root "$root" --git "https://github.com/$repository" --tag "$version" preflight-cli
    else
        cargo install --locked --root "$root" --git "https://github.com/$repository" preflight-cli
    fi
    ;;
*) fail "install must be 'release' or 'source', not '${PF_INSTALL}'" ;;
esac

"$root/bin/preflight" --version
echo "$root/bin" >>"${GITHUB_PATH:-/dev/null}"
echo "path=$root/bin/preflight" >>"$out"
