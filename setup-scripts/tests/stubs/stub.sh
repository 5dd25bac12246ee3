#!/bin/bash
set -euo pipefail
# A stand-in for the tools installers call, named by the link it is run through. Each call
# is appended to $STUB_LOG as `READ argv` or `MUTATE argv`; what it changes is kept under
# $STUB_STATE (installed packages, enabled and active units, containers), so a second run
# of an installer sees what the first did.
#
# Behaviour a test can steer (files under $STUB_STATE):
#   docker_info, docker_info_rc   what `docker info` prints and its exit status (default: ok)
#   curl_fail                     present: every download fails (curl's exit 22)
#   nvidia_version                what `nvidia-smi --query-gpu=driver_version` prints; absent:
#                                 nvidia-smi fails as it does without a driver
#   pip_vllm                      the vllm version a venv's python reports (set by pip install)
# Downloads (curl -o, wget -O) are small shell scripts naming their URL: run, they log a
# MUTATE call under their own name (an NVIDIA-Linux-*-<version>.run also sets
# nvidia_version); `tar -x` extracts the named members (or $STUB_TAR_MEMBERS) as copies of
# the archive; `traefik version` / `ollama --version` print the version in the URL their
# installed file (under $PHOENIX_ROOTFS) was downloaded from.

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

# The release version in the URL an installed stub file was downloaded from.
url_version() {
    sed -n 's|.*/download/v\([0-9][0-9.]*\)/.*|\1|p' "$1" 2>/dev/null | head -n 1
}

# The contents of a stub download of URL.
download() {
    printf '#!/bin/sh\n# downloaded by the %s stub from %s\n' "$name" "$1"
    cat <<'SH'
printf 'MUTATE %s %s\n' "$(basename "$0")" "$*" >>"$STUB_LOG"
v="$(basename "$0" | sed -n 's/^NVIDIA-Linux-.*-\([0-9][0-9.]*\)\.run$/\1/p')"
[ -z "$v" ] || printf '%s\n' "$v" >"$STUB_STATE/nvidia_version"
SH
}

# Whether a path is inside the test's guest root.
in_root() {
    case "$1" in
    "${PHOENIX_ROOTFS:?}"/*) return 0 ;;
    *) return 1 ;;
    esac
}


case "$name" in
apt-get)
    while [ "${1:-}" = "-o" ]; do shift 2; done
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
    touch "$STUB_STATE/running"
    case "${1:-}" in
    info)
        record READ "$@"
        if [ -f "$STUB_STATE/docker_info" ]; then cat "$STUB_STATE/docker_info"; fi
        exit "$(cat "$STUB_STATE/docker_info_rc" 2>/dev/null || echo 0)"
        ;;
    inspect)
        record READ "$@"
        c="${*: -1}"
        has containers "$c" || {
            printf 'Error: No such object: %s\n' "$c" >&2
            exit 1
        }
        case "$*" in
        *State.Running*) if has running "$c"; then echo true; else echo false; fi ;;
        esac
        ;;
    ps | version | --version | images)
        record READ "$@"
        ;;
    run)
        record MUTATE "$@"
        prev=""
        for a in "$@"; do
            if [ "$prev" = "--name" ]; then
                add containers "$a"
                add running "$a"
            fi
            prev="$a"
        done
        ;;
    start)
        record MUTATE "$@"
        add running "${*: -1}"
        ;;
    stop)
        record MUTATE "$@"
        grep -vxF "${*: -1}" "$STUB_STATE/running" >"$STUB_STATE/running.new" || true
        mv "$STUB_STATE/running.new" "$STUB_STATE/running"
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
curl | wget)
    record READ "$@"
    if [ -e "$STUB_STATE/curl_fail" ]; then
        echo "curl: (22) The requested URL returned error: 404" >&2
        exit 22
    fi
    url=""
    for a in "$@"; do
        case "$a" in http://* | https://*) url="$a" ;; esac
    done
    prev=""
    for a in "$@"; do
        case "$prev" in
        -o | -O | --output) download "$url" >"$a" ;;
        esac
        prev="$a"
    done
    ;;
tar)
    dir="."
    archive=""
    members=()
    prev=""
    for a in "$@"; do
        case "$prev" in
        -C) dir="$a" ;;
        -*f) archive="$a" ;;
        *)
            case "$a" in
            -*) ;;
            *) members+=("$a") ;;
            esac
            ;;
        esac
        prev="$a"
    done
    if in_root "$dir"; then record MUTATE "$@"; else record READ "$@"; fi
    if [ "${#members[@]}" -eq 0 ]; then
        read -r -a members <<<"${STUB_TAR_MEMBERS:-}"
    fi
    for m in "${members[@]}"; do
        mkdir -p "$(dirname "$dir/$m")"
        cp "$archive" "$dir/$m"
        chmod 755 "$dir/$m"
    done
    ;;
dpkg)
    case "${1:-}" in
    --print-architecture)
        record READ "$@"
        echo amd64
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
nvidia-smi)
    record READ "$@"
    [ -f "$STUB_STATE/nvidia_version" ] || {
        echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2
        exit 9
    }
    case "$*" in
    *driver_version*) cat "$STUB_STATE/nvidia_version" ;;
    *) printf 'GPU 0: stub (driver %s)\n' "$(cat "$STUB_STATE/nvidia_version")" ;;
    esac
    ;;
traefik)
    case "${1:-}" in
    version)
        record READ "$@"
        v="$(url_version "$PHOENIX_ROOTFS/usr/local/bin/traefik")"
        [ -n "$v" ] || exit 127
        printf 'Version:      %s\nCodename:     stub\n' "$v"
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
ollama)
    case "${1:-}" in
    --version | -v)
        record READ "$@"
        v="$(url_version "$PHOENIX_ROOTFS/usr/bin/ollama")"
        [ -n "$v" ] || exit 127
        printf 'Warning: could not connect to a running Ollama instance\n'
        printf 'Warning: client version is %s\n' "$v"
        ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
python3 | python)
    case "${1:-} ${2:-}" in
    "-m venv")
        record MUTATE "$@"
        venv="${*: -1}"
        mkdir -p "$venv/bin"
        ln -sf "$(readlink -f "$0")" "$venv/bin/python"
        ln -sf "$(readlink -f "$0")" "$venv/bin/pip"
        ;;
    "-m pip")
        record MUTATE "$@"
        for a in "$@"; do
            case "$a" in vllm==*) printf '%s\n' "${a#vllm==}" >"$STUB_STATE/pip_vllm" ;; esac
        done
        ;;
    -c*)
        record READ "$@"
        case "$2" in
        *vllm*)
            [ -f "$STUB_STATE/pip_vllm" ] || {
                echo "ModuleNotFoundError: No module named 'vllm'" >&2
                exit 1
            }
            cat "$STUB_STATE/pip_vllm"
            ;;
        esac
        ;;
    "--version "*) record READ "$@" ;;
    *) record MUTATE "$@" ;;
    esac
    ;;
useradd)
    record MUTATE "$@"
    mkdir -p "$PHOENIX_ROOTFS/etc"
    printf '%s:x:999:999::/nonexistent:/usr/sbin/nologin\n' "${*: -1}" >>"$PHOENIX_ROOTFS/etc/passwd"
    ;;
update-ca-certificates)
    record MUTATE "$@"
    mkdir -p "$PHOENIX_ROOTFS/etc/ssl/certs"
    for c in "$PHOENIX_ROOTFS"/usr/local/share/ca-certificates/*.crt; do
        [ -e "$c" ] || continue
        ln -sf "$c" "$PHOENIX_ROOTFS/etc/ssl/certs/$(basename "$c" .crt).pem"
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
