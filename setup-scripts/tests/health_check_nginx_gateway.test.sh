#!/bin/bash
set -euo pipefail
# health_checks/check_nginx_gateway.sh: read-only `pct exec` probes; healthy -> 0 and the
# container ID taken from the last argument; each failed probe -> non-zero with a message.

CHECK=health_checks/check_nginx_gateway.sh

new_case health_nginx '{}'
pct_stub
run_installer "$CHECK" 101
grep -qF "READ pct exec 101 -- nginx -t" "$STUB_LOG" || fail "nginx -t not probed"
grep -qF "READ pct exec 101 -- systemctl is-active --quiet nginx" "$STUB_LOG" || fail "service not probed"
grep -q "OK nginx in container 101" "$CASE/out" || fail "no OK line"
[ -z "$(mutations)" ] || fail "a health check changed something"

for probe in "nginx -t" "is-active --quiet nginx"; do
    new_case "health_nginx_fail_$probe" '{}'
    pct_stub
    printf "%s\n" "$probe" >"$STUB_STATE/pct-fail"
    if bash "$SCRIPTS/$CHECK" 101 >"$CASE/out" 2>&1; then fail "healthy although \`$probe\` fails"; fi
    grep -q "^FAIL nginx in container 101" "$CASE/out" || fail "no FAIL message for \`$probe\`"
done
