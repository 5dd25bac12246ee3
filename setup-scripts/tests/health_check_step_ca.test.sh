#!/bin/bash
set -euo pipefail
# health_checks/check_step_ca.sh: read-only `pct exec` probes; healthy -> 0 and the
# container ID taken from the last argument; each failed probe -> non-zero with a message.

CHECK=health_checks/check_step_ca.sh

new_case health_step_ca '{}'
pct_stub
run_installer "$CHECK" --some-arg 103
grep -qF 'READ pct exec 103 -- systemctl is-active --quiet step-ca' "$STUB_LOG" || fail "service not probed"
grep -qF 'READ pct exec 103 -- step ca health --ca-url https://127.0.0.1:9000 --root /etc/step-ca/ssl/certs/root_ca.crt' "$STUB_LOG" ||
    fail "step ca health not probed"
grep -q 'OK step-ca in container 103' "$CASE/out" || fail "no OK line"
[ -z "$(mutations)" ] || fail "a health check changed something"

for probe in 'is-active --quiet step-ca' 'step ca health' 'ca.ready' 'root_ca.crt'; do
    new_case "health_step_ca_fail_$probe" '{}'
    pct_stub
    printf '%s\n' "$probe" >"$STUB_STATE/pct-fail"
    if bash "$SCRIPTS/$CHECK" 103 >"$CASE/out" 2>&1; then fail "healthy although \`$probe\` fails"; fi
    grep -q '^FAIL step-ca in container 103' "$CASE/out" || fail "no FAIL message for \`$probe\`"
done

new_case health_step_ca_usage '{}'
pct_stub
unset PHOENIX_CTID
set +e
bash "$SCRIPTS/$CHECK" >"$CASE/out" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "no ID: exit $rc, expected 2"
