#!/bin/bash
set -euo pipefail
# Feature ollama (containers): a pinned Ollama release from its GitHub release tarball
# (no `curl | sh`) into /usr/bin/ollama and /usr/lib/ollama, an `ollama` system user, and
# ollama.service listening on 0.0.0.0:11434.
# Reads: .container.ollama_version (default below).
# Idempotent: the tarball is fetched only when `ollama --version` does not report the wanted
# version; the user is added only when missing; the unit is written only when it differs
# (daemon-reload only then); ollama is restarted only when the unit or the binary changed,
# enabled and started only when it is not.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

DEFAULT_OLLAMA_VERSION=0.9.6
UNIT=/etc/systemd/system/ollama.service

want="$(input '.container.ollama_version')"
want="${want:-$DEFAULT_OLLAMA_VERSION}"
want="${want#v}"

installed_version() {
    [ -x "$(p /usr/bin/ollama)" ] || return 0
    ollama --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+[^ ]*' | tail -n 1 || true
}

restart=0
current="$(installed_version)"
if [ "$current" != "$want" ]; then
    apt_install ca-certificates curl
    arch="$(dpkg --print-architecture)"
    case "$arch" in amd64 | arm64) ;; *) die "Ollama has no Linux release for architecture $arch" ;; esac
    url="https://github.com/ollama/ollama/releases/download/v$want/ollama-linux-$arch.tgz"
    tmp=""
    scratch tmp
    log "ollama: installing $want (was: ${current:-none})"
    curl -fsSL -o "$tmp/ollama.tgz" "$url" || die "cannot download $url (is $want an Ollama release?)"
    mkdir -p "$tmp/x"
    tar -xzf "$tmp/ollama.tgz" -C "$tmp/x" || die "cannot unpack $url"
    [ -f "$tmp/x/bin/ollama" ] || die "$url has no bin/ollama"
    install -D -m 755 "$tmp/x/bin/ollama" "$(p /usr/bin/ollama)"
    if [ -d "$tmp/x/lib/ollama" ]; then
        rm -rf "$(p /usr/lib/ollama)"
        mkdir -p "$(p /usr/lib)"
        cp -a "$tmp/x/lib/ollama" "$(p /usr/lib/ollama)"
    fi
    restart=1
fi

if ! grep -q '^ollama:' "$(p /etc/passwd)" 2>/dev/null; then
    useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama
fi

if write_file "$UNIT" 644 <<'UNIT'; then
[Unit]
Description=Ollama
Wants=network-online.target
After=network-online.target

[Service]
User=ollama
Group=ollama
Environment=HOME=/usr/share/ollama
Environment=OLLAMA_HOST=0.0.0.0:11434
ExecStart=/usr/bin/ollama serve
Restart=always
RestartSec=3

[Install]
WantedBy=multi-user.target
UNIT
    daemon_reload
    restart=1
fi
if [ "$restart" -eq 1 ]; then
    systemctl restart ollama
fi
service_on ollama

log "ollama: done ($want)"
