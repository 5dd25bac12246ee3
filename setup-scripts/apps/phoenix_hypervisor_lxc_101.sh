#!/bin/bash
set -euo pipefail
# Application script for the Nginx gateway container (101 in the reference).
#
# Installs nginx (with the stream module the main config uses), makes the directories the
# gateway's configuration lives in (sites-available, sites-enabled, conf.d, stream.d, ssl),
# writes the main nginx.conf (http includes conf.d and sites-enabled; stream includes
# stream.d), removes Debian's default site and never writes a placeholder one [P39]: the real
# site is written by `portainer-manager sync`. Checks the configuration (`nginx -t`) before
# nginx is started or reloaded, and fails without reloading when it is invalid.
# Non-destructive (the shell version wiped the site directories on every run): nothing the
# sync or the certificate manager wrote is removed. Idempotent: files are written only when
# different, nginx is reloaded only when something changed.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

id="${PHOENIX_CTID:-${1:-}}"
[ -n "$id" ] || die "usage: phoenix_hypervisor_lxc_101.sh <CTID> (or PHOENIX_CTID)"

apt_install nginx libnginx-mod-stream

for d in /etc/nginx/sites-available /etc/nginx/sites-enabled /etc/nginx/conf.d \
    /etc/nginx/stream.d /var/www/html; do
    [ -d "$(p "$d")" ] || mkdir -p "$(p "$d")"
done
if [ ! -d "$(p /etc/nginx/ssl)" ]; then
    mkdir -p "$(p /etc/nginx/ssl)"
    chmod 700 "$(p /etc/nginx/ssl)"
fi

changed=0
if write_file /etc/nginx/nginx.conf 644 <<'CONF'; then changed=1; fi
# Written by phoenix (application script phoenix_hypervisor_lxc_101.sh).
# Sites: /etc/nginx/sites-enabled (written by `portainer-manager sync`); TCP: /etc/nginx/stream.d.
user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 768;
}

http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    server_tokens off;

    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;

    access_log /var/log/nginx/access.log;
    error_log /var/log/nginx/error.log;

    gzip on;

    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}

stream {
    include /etc/nginx/stream.d/*.conf;
}
CONF

# Debian's default site answers every name on port 80; the gateway's site replaces it.
for f in /etc/nginx/sites-enabled/default /etc/nginx/sites-available/default; do
    if [ -e "$(p "$f")" ] || [ -L "$(p "$f")" ]; then
        rm -f "$(p "$f")"
        log "removed $f"
        changed=1
    fi
done

nginx -t || die "the nginx configuration of container $id is invalid (nginx -t above); nginx was not reloaded"

if [ "$changed" -eq 1 ] && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl reload nginx
fi
service_on nginx

log "nginx gateway: done"
