#!/bin/bash
set -euo pipefail
# health_checks/check_vllm.sh: read-only `pct exec` probes; healthy -> 0 and the
# container ID taken from the last argument; each failed probe -> non-zero with a message.

CHECK=health_checks/check_vllm.sh

new_case health_vllm '{}'
pct_stub
run_installer "$CHECK" 910
grep -qF "READ pct exec 910 -- systemctl is-active --quiet vllm_model_server.service" "$STUB_LOG" || fail "service not probed"
grep -qF "READ pct exec 910 -- curl -fsS --max-time 10 http://127.0.0.1:8000/health" "$STUB_LOG" || fail "/health not probed"
[ -z "$(mutations)" ] || fail "a health check changed something"

new_case health_vllm_port '{}'
pct_stub
run_installer "$CHECK" --port 8001 911
grep -qF "READ pct exec 911 -- curl -fsS --max-time 10 http://127.0.0.1:8001/health" "$STUB_LOG" || fail "--port not used"

for probe in "is-active --quiet vllm_model_server" "/health"; do
    new_case "health_vllm_fail_$probe" '{}'
    pct_stub
    printf "%s\n" "$probe" >"$STUB_STATE/pct-fail"
    if bash "$SCRIPTS/$CHECK" 910 >"$CASE/out" 2>&1; then fail "healthy although \`$probe\` fails"; fi
    grep -q "^FAIL vLLM in container 910" "$CASE/out" || fail "no FAIL message for \`$probe\`"
done
