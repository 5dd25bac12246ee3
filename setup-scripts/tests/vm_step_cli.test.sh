#!/bin/bash
set -euo pipefail
# vm/step_cli.sh: Smallstep key and list once, apt-get update only when the list changed,
# step-cli installed once.

new_case vm_step_cli '{"vm": {}, "globals": {}}'
export PHOENIX_VMID=1001
with_package ca-certificates curl
run_installer vm/step_cli.sh 1001
assert_file /etc/apt/keyrings/smallstep.asc
assert_file /etc/apt/sources.list.d/smallstep.list "signed-by=/etc/apt/keyrings/smallstep.asc] https://packages.smallstep.com/stable/debian debs main"
assert_called "apt-get install -y -q --no-install-recommends step-cli"
[ "$(grep -c '^READ apt-get update' "$STUB_LOG")" -eq 1 ] || fail "apt-get update should run exactly once"
assert_idempotent vm/step_cli.sh 1001
if grep -q '^READ apt-get update\|^READ curl' "$STUB_LOG"; then fail "the second run fetched or updated"; fi
