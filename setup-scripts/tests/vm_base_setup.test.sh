#!/bin/bash
set -euo pipefail
# vm/base_setup.sh: packages once, the IPv6 sysctl file written and applied once, ufw
# disabled once when installed and active.

ufw_stub() {
    own_stub ufw <<'STUB'
#!/bin/bash
set -euo pipefail
case "${1:-}" in
status)
    printf 'READ ufw %s\n' "$*" >>"$STUB_LOG"
    if [ -f "$STUB_STATE/ufw-off" ]; then echo 'Status: inactive'; else echo 'Status: active'; fi
    ;;
*)
    printf 'MUTATE ufw %s\n' "$*" >>"$STUB_LOG"
    touch "$STUB_STATE/ufw-off"
    ;;
esac
STUB
}

new_case vm_base_setup '{"vm": {"user": "ubuntu"}, "globals": {}}'
unset PHOENIX_CTID
export PHOENIX_VMID=1001
ln -s "$SCRIPTS/tests/stubs/stub.sh" "$STUB_BIN/sysctl"
ufw_stub
with_package curl vim ufw
printf 'ufw\n' >>"$STUB_STATE/enabled"
run_installer vm/base_setup.sh 1001
assert_called "apt-get install -y -q --no-install-recommends wget htop jq git rsync gnupg ca-certificates nfs-common"
assert_file /etc/sysctl.d/99-disable-ipv6.conf "net.ipv6.conf.all.disable_ipv6 = 1"
assert_called "sysctl -p /etc/sysctl.d/99-disable-ipv6.conf"
assert_called "ufw disable"
assert_called "systemctl disable --now ufw"
# the stub keeps enabled units; a disabled one leaves the list
sed -i '/^ufw$/d' "$STUB_STATE/enabled"
assert_idempotent vm/base_setup.sh 1001

# Without ufw nothing touches it.
new_case vm_base_setup_no_ufw '{"vm": {}, "globals": {}}'
export PHOENIX_VMID=1002
ln -s "$SCRIPTS/tests/stubs/stub.sh" "$STUB_BIN/sysctl"
ufw_stub
run_installer vm/base_setup.sh 1002
if grep -q '^[A-Z]* ufw ' "$STUB_LOG"; then fail "ufw was called although not installed"; fi
assert_idempotent vm/base_setup.sh 1002
