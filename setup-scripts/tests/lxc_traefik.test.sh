#!/bin/bash
set -euo pipefail
# lxc/traefik.sh: the pinned release, directories, static config (file provider by directory
# only) and unit once; a second run changes nothing; a changed traefik.yml is put back and
# Traefik restarted; another version is downloaded.

new_case traefik '{"ctid": 102, "container": {}}'
with_package ca-certificates curl
run_installer lxc/traefik.sh
grep -q "^READ curl -fsSL -o .* https://github.com/traefik/traefik/releases/download/v3.1.6/traefik_v3.1.6_linux_amd64.tar.gz" "$STUB_LOG" ||
    fail "the release tarball was not downloaded"
assert_file /usr/local/bin/traefik
[ -d "$PHOENIX_ROOTFS/etc/traefik/dynamic" ] || fail "no /etc/traefik/dynamic"
[ -d "$PHOENIX_ROOTFS/var/log/traefik" ] || fail "no /var/log/traefik"
assert_file /etc/traefik/traefik.yml 'address: ":80"'
assert_file /etc/traefik/traefik.yml 'address: ":8080"'
assert_file /etc/traefik/traefik.yml "directory: /etc/traefik/dynamic"
assert_file /etc/traefik/traefik.yml "watch: true"
if grep -q 'filename:' "$PHOENIX_ROOTFS/etc/traefik/traefik.yml"; then
    fail "the file provider names both a filename and a directory (P38)"
fi
assert_file /etc/systemd/system/traefik.service "ExecStart=/usr/local/bin/traefik --configFile=/etc/traefik/traefik.yml"
assert_called "systemctl daemon-reload"
assert_called "systemctl restart traefik"
assert_called "systemctl enable traefik"
assert_idempotent lxc/traefik.sh

# An edited static configuration: put back, Traefik restarted, nothing else.
echo "# edited" >>"$PHOENIX_ROOTFS/etc/traefik/traefik.yml"
run_installer lxc/traefik.sh
assert_called "systemctl restart traefik"
assert_not_called "daemon-reload"
if grep -q '^READ curl' "$STUB_LOG"; then fail "downloaded again"; fi
assert_idempotent lxc/traefik.sh

# Another version.
printf '{"ctid": 102, "container": {"traefik_version": "v3.3.4"}}\n' >"$PHOENIX_INPUTS"
run_installer lxc/traefik.sh
grep -q "releases/download/v3.3.4/traefik_v3.3.4_linux_amd64.tar.gz" "$STUB_LOG" || fail "3.3.4 not downloaded"
assert_called "systemctl restart traefik"
assert_idempotent lxc/traefik.sh

new_case traefik_v2 '{"ctid": 102, "container": {"traefik_version": "2.11.0"}}'
run_fails lxc/traefik.sh "not a Traefik v3 release"
