#!/bin/bash
set -euo pipefail
# A stand-in for the tools installers call, named by the link it is run through. Each call
# is appended to $STUB_LOG as `READ argv` or `MUTATE argv`; what it changes is kept under
# $STUB_STATE (installed packages, enabled and active units, containers), so a second run
# of an installer sees what the first did.

name="$(basename "$0")"
: "${STUB_LOG:?}" "${STUB_STATE:?}"
mkdir -p "$STUB_STATE"
touch "$STUB_STATE/packages" "$STUB_STATE/enabled" "$STUB_STATE/active" "$STUB_STATE/containers"

record() {
    printf '%s %s %s\n' "$1" "$name" "${*:2}" >>"$STUB_LOG"
}

has() {
    grep -qxF "$2" "$STUB_STATE/$1"
}

add() {
    has "$1" "$2" || printf '%s\n' "$2" >>"$STUB_STATE/$1"
}


case "$name" in
apt-get)
    case "${1:-}" in
    update)
        record READ "$@"
        ;;
    install)
        record MUTATE "$@"
        for a in "$@"; do
            case "$a" in
            -*) ;;
            install) ;;
            *) add packages "$a" ;;
            esac
        done
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
dpkg-query)
    record READ "$@"
    pkg="${*: -1}"
    if has packages "$pkg"; then
        printf 'install ok installed'
    else
        printf 'dpkg-query: no packages found matching %s\n' "$pkg" >&2
        exit 1
    fi
    ;;
systemctl)
    verb="${1:-}"
    unit="${*: -1}"
    case "$verb" in
    is-enabled)
        record READ "$@"
        has enabled "$unit"
        ;;
    is-active)
        record READ "$@"
        has active "$unit"
        ;;
    status)
        record READ "$@"
        ;;
    enable)
        record MUTATE "$@"
        add enabled "$unit"
        if [ "${2:-}" = "--now" ]; then add active "$unit"; fi
        ;;
    start | restart | reload | reload-or-restart)
        record MUTATE "$@"
        add active "$unit"
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
docker)
    case "${1:-}" in
    inspect | ps | info | version | --version | images)
        record READ "$@"
        if [ "${1:-}" = "inspect" ]; then has containers "${*: -1}"; fi
        ;;
    run)
        record MUTATE "$@"
        prev=""
        for a in "$@"; do
            if [ "$prev" = "--name" ]; then add containers "$a"; fi
            prev="$a"
        done
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
curl | wget)
    record READ "$@"
    prev=""
    for a in "$@"; do
        case "$prev" in
        -o | -O | --output) printf 'downloaded by the %s stub\n' "$name" >"$a" ;;
        esac
        prev="$a"
    done
    ;;
*)
    # Anything else that is not a probe changes the guest.
    case "${1:-}" in
    --version | version | -v | --help) record READ "$@" ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
esac
