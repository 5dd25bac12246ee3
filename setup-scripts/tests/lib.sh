#!/bin/bash
# Helpers for installer tests (sourced by run.sh for every *.test.sh).
set -euo pipefail
#
# A case runs an installer with PHOENIX_ROOTFS pointing at a temporary root, the stubs of
# tests/stubs/ first on PATH (the tools named in STUBBED, and nothing real that changes a
# machine), and an inputs file; the stubs log what was called.

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STUBBED=(apt-get dpkg-query dpkg systemctl docker curl wget tar update-ca-certificates
    locale-gen update-locale nvidia-smi step step-ca gpg python3 pip3 nginx traefik ollama
    usermod useradd chown openssl)

fail() {
    printf 'FAIL %s: %s\n' "${CASE_NAME:-?}" "$*" >&2
    if [ -n "${CASE:-}" ] && [ -f "$CASE/out" ]; then
        sed 's/^/    | /' "$CASE/out" >&2
    fi
    exit 1
}

# new_case NAME INPUTS_JSON: a fresh root, stubs and inputs.
new_case() {
    CASE_NAME="$1"
    CASE="$(mktemp -d)"
    export PHOENIX_ROOTFS="$CASE/root" STUB_STATE="$CASE/state" STUB_LOG="$CASE/log"
    export STUB_BIN="$CASE/bin" PHOENIX_INPUTS="$CASE/inputs.json" PHOENIX_NAME="$1"
    export PHOENIX_CTID=100 PHOENIX_LIB="$SCRIPTS/lib/common.sh"
    mkdir -p "$PHOENIX_ROOTFS" "$STUB_STATE" "$STUB_BIN"
    : >"$STUB_LOG"
    local t
    for t in "${STUBBED[@]}"; do
        ln -s "$SCRIPTS/tests/stubs/stub.sh" "$STUB_BIN/$t"
    done
    PATH="$STUB_BIN:$PATH"
    printf '%s\n' "${2:-{\}}" >"$PHOENIX_INPUTS"
}

# with_package PKG...: as if already installed.
with_package() {
    printf '%s\n' "$@" >>"$STUB_STATE/packages"
}

# run_fails REL_PATH MESSAGE [ARGS...]: the installer exits non-zero and says MESSAGE.
run_fails() {
    local script="$SCRIPTS/$1" msg="$2"
    shift 2
    : >"$STUB_LOG"
    if bash "$script" "${@:-100}" >"$CASE/out" 2>&1; then
        fail "$(basename "$script") succeeded; expected a failure saying \`$msg\`"
    fi
    grep -qF -- "$msg" "$CASE/out" || fail "$(basename "$script") failed without saying \`$msg\`"
}

# assert_not_called TEXT: no mutating call contains TEXT in the last run.
assert_not_called() {
    if grep -F "MUTATE" "$STUB_LOG" | grep -qF -- "$1"; then
        fail "unexpected call containing \`$1\`:
$(cat "$STUB_LOG")"
    fi
}

# run_installer REL_PATH [ARGS...]: runs it; its output is in $CASE/out.
run_installer() {
    local script="$SCRIPTS/$1"
    shift
    : >"$STUB_LOG"
    bash "$script" "${@:-100}" >"$CASE/out" 2>&1 || fail "$(basename "$script") exited $?"
}

# What the last run changed (stub calls that mutate, files written).
mutations() {
    grep '^MUTATE ' "$STUB_LOG" || true
    grep '^wrote ' "$CASE/out" || true
}

assert_called() {
    grep -qF "MUTATE $1" "$STUB_LOG" || fail "expected a call \`$1\`; got:
$(cat "$STUB_LOG")"
}

assert_file() {
    [ -f "$PHOENIX_ROOTFS$1" ] || fail "expected $1"
    if [ -n "${2:-}" ]; then
        grep -qF -- "$2" "$PHOENIX_ROOTFS$1" || fail "$1 does not contain \`$2\`"
    fi
}

# assert_idempotent REL_PATH [ARGS...]: a second run changes nothing.
assert_idempotent() {
    run_installer "$@"
    local m
    m="$(mutations)"
    [ -z "$m" ] || fail "the second run of $1 changed something:
$m"
}

# own_stub TOOL: the test's own stand-in for TOOL, from stdin (the link to stub.sh is removed
# first: writing through it would overwrite stub.sh).
own_stub() {
    rm -f "$STUB_BIN/$1"
    cat >"$STUB_BIN/$1"
    chmod +x "$STUB_BIN/$1"
}

# pct: logs READ for `exec` (MUTATE otherwise); a call whose argv contains a line of
# $STUB_STATE/pct-fail fails.
pct_stub() {
    own_stub pct <<'STUB'
#!/bin/bash
set -euo pipefail
if [ "${1:-}" = exec ]; then kind=READ; else kind=MUTATE; fi
printf '%s pct %s\n' "$kind" "$*" >>"$STUB_LOG"
touch "$STUB_STATE/pct-fail"
while IFS= read -r pat; do
    [ -n "$pat" ] || continue
    case "$*" in *"$pat"*) exit 1 ;; esac
done <"$STUB_STATE/pct-fail"
exit 0
STUB
}
