#!/bin/bash
set -euo pipefail
# Feature traefik (containers): a pinned Traefik v3 binary from its GitHub release tarball in
# /usr/local/bin/traefik, the directories /etc/traefik/dynamic and /var/log/traefik, a static
# /etc/traefik/traefik.yml (entry points web :80 and traefik :8080, ping, the API dashboard,
# the file provider watching /etc/traefik/dynamic: routers and services go there, not in the
# static file), and traefik.service, enabled and started.
# Reads: .container.traefik_version (default below).
# Idempotent: the tarball is fetched only when `traefik version` does not report the wanted
# version; traefik.yml and the unit are written only when they differ (daemon-reload only
# when the unit changed). Traefik reads its static configuration only at start, and a SIGHUP
# kills Traefik 3 (traefik/traefik#11624), so a changed traefik.yml or binary means
# `systemctl restart traefik`, and the unit's reload only reopens the log files (SIGUSR1);
# dynamic files are picked up by the file provider's watch.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

DEFAULT_TRAEFIK_VERSION=3.1.6
BIN=/usr/local/bin/traefik
CONFIG=/etc/traefik/traefik.yml
UNIT=/etc/systemd/system/traefik.service

want="$(input '.container.traefik_version')"
want="${want:-$DEFAULT_TRAEFIK_VERSION}"
want="${want#v}"
case "$want" in 3.*) ;; *) die "traefik_version $want is not a Traefik v3 release (this static configuration is v3's)" ;; esac

installed_version() {
    [ -x "$(p "$BIN")" ] || return 0
    traefik version 2>/dev/null | sed -n 's/^Version:[[:space:]]*v\{0,1\}//p' | head -n 1 || true
}

restart=0
current="$(installed_version)"
if [ "$current" != "$want" ]; then
    apt_install ca-certificates curl
    arch="$(dpkg --print-architecture)"
    url="https://github.com/traefik/traefik/releases/download/v$want/traefik_v${want}_linux_$arch.tar.gz"
    tmp=""
    scratch tmp
    log "traefik: installing $want (was: ${current:-none})"
    curl -fsSL -o "$tmp/traefik.tar.gz" "$url" || die "cannot download $url (is $want a Traefik release?)"
    tar -xzf "$tmp/traefik.tar.gz" -C "$tmp" traefik || die "cannot unpack traefik from $url"
    [ -s "$tmp/traefik" ] || die "$url has no traefik binary"
    install -D -m 755 "$tmp/traefik" "$(p "$BIN")"
    restart=1
fi

mkdir -p "$(p /etc/traefik/dynamic)" "$(p /var/log/traefik)"
chmod 755 "$(p /etc/traefik)" "$(p /etc/traefik/dynamic)" "$(p /var/log/traefik)"

write_file "$CONFIG" 644 <<'YAML' && restart=1
# Traefik static configuration (Phoenix feature traefik). Read at start only: a change needs
# a restart. Routers, services and transports are dynamic configuration: files in
# /etc/traefik/dynamic, picked up while Traefik runs.
entryPoints:
  web:
    address: ":80"
  traefik:
    address: ":8080"

ping:
  entryPoint: traefik

api:
  dashboard: true
  insecure: true

log:
  level: INFO
  filePath: /var/log/traefik/traefik.log

accessLog:
  filePath: /var/log/traefik/access.log

providers:
  file:
    directory: /etc/traefik/dynamic
    watch: true
YAML

if write_file "$UNIT" 644 <<'UNIT'; then
[Unit]
Description=Traefik
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=/usr/local/bin/traefik --configFile=/etc/traefik/traefik.yml
# Traefik 3 exits on SIGHUP and rereads no static configuration; SIGUSR1 reopens its logs.
ExecReload=/bin/kill -USR1 $MAINPID
Restart=always
RestartSec=5
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
UNIT
    daemon_reload
    restart=1
fi

if [ "$restart" -eq 1 ]; then
    systemctl restart traefik
fi
service_on traefik

log "traefik: done ($want)"
