#!/bin/bash
set -euo pipefail
# lxc/step_cli.sh: Smallstep's repository (key, list) and step-cli once; a second run
# neither fetches, updates nor installs.

new_case step_cli '{"ctid": 101, "container": {}}'
with_package ca-certificates curl
run_installer lxc/step_cli.sh
assert_file /etc/apt/keyrings/smallstep.asc
assert_file /etc/apt/sources.list.d/smallstep.list \
    "deb [signed-by=/etc/apt/keyrings/smallstep.asc] https://packages.smallstep.com/stable/debian debs main"
grep -q "READ curl -fsSL -o .* https://packages.smallstep.com/keys/apt/repo-signing-key.gpg" "$STUB_LOG" ||
    fail "the repository key was not fetched"
[ "$(grep -c '^READ apt-get update' "$STUB_LOG")" -eq 1 ] || fail "expected exactly one apt-get update"
assert_called "apt-get install -y -q --no-install-recommends step-cli"
assert_idempotent lxc/step_cli.sh
if grep -q 'apt-get update\|^READ curl' "$STUB_LOG"; then
    fail "the second run fetched or updated: $(cat "$STUB_LOG")"
fi
