#!/bin/bash
set -euo pipefail
# lxc/ollama.sh: the pinned release tarball (never install.sh), a user and the unit once;
# a second run changes nothing; another version is installed and the service restarted.

export STUB_TAR_MEMBERS=bin/ollama

new_case ollama '{"ctid": 914, "container": {}}'
with_package ca-certificates curl
mkdir -p "$PHOENIX_ROOTFS/etc"
: >"$PHOENIX_ROOTFS/etc/passwd"
run_installer lxc/ollama.sh
grep -q "^READ curl -fsSL -o .* https://github.com/ollama/ollama/releases/download/v0.9.6/ollama-linux-amd64.tgz" "$STUB_LOG" ||
    fail "the release tarball was not downloaded"
if grep -q 'install.sh' "$STUB_LOG"; then fail "install.sh used"; fi
assert_file /usr/bin/ollama
assert_called "useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama"
assert_file /etc/systemd/system/ollama.service "Environment=OLLAMA_HOST=0.0.0.0:11434"
assert_called "systemctl daemon-reload"
assert_called "systemctl restart ollama"
assert_called "systemctl enable ollama"
assert_idempotent lxc/ollama.sh

# Another version: downloaded and restarted, the unit untouched.
printf '{"ctid": 914, "container": {"ollama_version": "v0.11.4"}}\n' >"$PHOENIX_INPUTS"
run_installer lxc/ollama.sh
grep -q "releases/download/v0.11.4/ollama-linux-amd64.tgz" "$STUB_LOG" || fail "0.11.4 not downloaded"
assert_called "systemctl restart ollama"
assert_not_called "daemon-reload"
assert_idempotent lxc/ollama.sh
