#!/bin/bash
set -euo pipefail
# apps/phoenix_hypervisor_lxc_101.sh: nginx installed once, the main config written once,
# Debian's default site removed and no placeholder written, what the sync wrote kept,
# `nginx -t` before any reload, nothing reloaded when the check fails.

APP=apps/phoenix_hypervisor_lxc_101.sh

nginx_stub() {
    # `nginx -t` reads; it fails while $STUB_STATE/nginx-bad exists.
    own_stub nginx <<'STUB'
#!/bin/bash
set -euo pipefail
if [ "${1:-}" = "-t" ]; then
    printf 'READ nginx %s\n' "$*" >>"$STUB_LOG"
    if [ -e "$STUB_STATE/nginx-bad" ]; then
        echo 'nginx: [emerg] unknown directive "bogus"' >&2
        exit 1
    fi
    exit 0
fi
printf 'MUTATE nginx %s\n' "$*" >>"$STUB_LOG"
STUB
}

new_case nginx_gateway '{"ctid": 101, "container": {"name": "Nginx-Phoenix"}, "globals": {"domain_name": "lab.example"}}'
export PHOENIX_CTID=101
nginx_stub
# What the nginx package leaves, and a site the sync wrote earlier.
mkdir -p "$PHOENIX_ROOTFS/etc/nginx/sites-available" "$PHOENIX_ROOTFS/etc/nginx/sites-enabled"
printf 'server { listen 80 default_server; }\n' >"$PHOENIX_ROOTFS/etc/nginx/sites-available/default"
ln -s ../sites-available/default "$PHOENIX_ROOTFS/etc/nginx/sites-enabled/default"
printf 'server { listen 443 ssl; }\n' >"$PHOENIX_ROOTFS/etc/nginx/sites-available/gateway"
ln -s ../sites-available/gateway "$PHOENIX_ROOTFS/etc/nginx/sites-enabled/gateway"
run_installer "$APP" 101
assert_called "apt-get install -y -q --no-install-recommends nginx libnginx-mod-stream"
assert_file /etc/nginx/nginx.conf "include /etc/nginx/conf.d/*.conf;"
assert_file /etc/nginx/nginx.conf "include /etc/nginx/sites-enabled/*;"
for d in sites-enabled ssl conf.d stream.d; do
    [ -d "$PHOENIX_ROOTFS/etc/nginx/$d" ] || fail "/etc/nginx/$d is missing"
done
[ ! -e "$PHOENIX_ROOTFS/etc/nginx/sites-enabled/default" ] || fail "the default site is still enabled"
[ ! -e "$PHOENIX_ROOTFS/etc/nginx/sites-available/default" ] || fail "the default site is still there"
[ -L "$PHOENIX_ROOTFS/etc/nginx/sites-enabled/gateway" ] || fail "the sync's site was removed"
assert_file /etc/nginx/sites-available/gateway "listen 443 ssl"
grep -q '^READ nginx -t' "$STUB_LOG" || fail "nginx -t was not run"
assert_called "systemctl enable nginx"
assert_called "systemctl start nginx"
assert_idempotent "$APP" 101
[ "$(find "$PHOENIX_ROOTFS/etc/nginx/sites-enabled" -mindepth 1 | wc -l)" -eq 1 ] ||
    fail "a site other than the sync's appeared"

# A changed main config on a running nginx: checked, then reloaded.
printf '# edited\n' >>"$PHOENIX_ROOTFS/etc/nginx/nginx.conf"
run_installer "$APP" 101
assert_called "systemctl reload nginx"
grep -q '^READ nginx -t' "$STUB_LOG" || fail "nginx -t was not run before the reload"
assert_idempotent "$APP" 101

# An invalid configuration (a bad site): non-zero, no reload, no start.
new_case nginx_gateway_invalid '{"ctid": 101, "container": {}, "globals": {}}'
nginx_stub
touch "$STUB_STATE/nginx-bad"
mkdir -p "$PHOENIX_ROOTFS/etc/nginx/sites-enabled"
printf 'bogus;\n' >"$PHOENIX_ROOTFS/etc/nginx/sites-enabled/default"
printf 'nginx\n' >>"$STUB_STATE/active"
printf 'nginx\n' >>"$STUB_STATE/enabled"
if bash "$SCRIPTS/$APP" 101 >"$CASE/out" 2>&1; then fail "succeeded although nginx -t fails"; fi
grep -q 'nginx -t' "$CASE/out" || fail "the message does not name nginx -t"
if grep -q 'systemctl \(reload\|restart\|start\)' "$STUB_LOG"; then fail "nginx was reloaded with an invalid configuration"; fi
