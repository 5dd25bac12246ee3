#!/bin/bash
# The harness itself: an installer that changes something on every run is caught.
set -euo pipefail

new_case harness '{}'
mkdir -p "$PHOENIX_ROOTFS/opt"
cat >"$CASE/restless.sh" <<'SH'
#!/bin/bash
set -euo pipefail
systemctl restart something
SH
cp "$CASE/restless.sh" "$SCRIPTS/tests/.restless.sh"
trap 'rm -f "$SCRIPTS/tests/.restless.sh"' EXIT
run_installer tests/.restless.sh
assert_called "systemctl restart something"
if (assert_idempotent tests/.restless.sh) 2>/dev/null; then
    fail "a restart on every run passed as idempotent"
fi
