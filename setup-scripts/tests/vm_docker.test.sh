#!/bin/bash
set -euo pipefail
# vm/docker.sh: Docker's repo (key + list), update only when the list was written, the
# engine packages, the service on, the VM's user in the docker group — each once.

new_case vm_docker '{"vm": {"user": "phoenix", "portainer_role": "agent"}, "globals": {"domain_name": "lab.example"}}'
export PHOENIX_VMID=1001
mkdir -p "$PHOENIX_ROOTFS/etc"
printf 'NAME="Ubuntu"\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n' >"$PHOENIX_ROOTFS/etc/os-release"
printf 'root:x:0:0::/root:/bin/bash\nphoenix:x:1000:1000::/home/phoenix:/bin/bash\n' >"$PHOENIX_ROOTFS/etc/passwd"
printf 'root:x:0:\ndocker:x:998:\n' >"$PHOENIX_ROOTFS/etc/group"
own_stub dpkg <<'STUB'
#!/bin/bash
set -euo pipefail
printf 'READ dpkg %s\n' "$*" >>"$STUB_LOG"
echo amd64
STUB
own_stub usermod <<'STUB'
#!/bin/bash
set -euo pipefail
printf 'MUTATE usermod %s\n' "$*" >>"$STUB_LOG"
sed -i "s/^docker:x:998:\$/docker:x:998:${*: -1}/" "$PHOENIX_ROOTFS/etc/group"
STUB
with_package ca-certificates curl
run_installer vm/docker.sh 1001
assert_file /etc/apt/keyrings/docker.asc
assert_file /etc/apt/sources.list.d/docker.list "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu noble stable"
assert_called "apt-get install -y -q --no-install-recommends docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin"
assert_called "systemctl enable docker"
assert_called "systemctl start docker"
assert_called "usermod -aG docker phoenix"
[ "$(grep -c '^READ apt-get update' "$STUB_LOG")" -eq 1 ] || fail "apt-get update should run exactly once"
if grep -rq 'fuse-overlayfs' "$PHOENIX_ROOTFS" "$STUB_LOG"; then fail "a VM's Docker must not use fuse-overlayfs"; fi
assert_idempotent vm/docker.sh 1001
if grep -q '^READ apt-get update\|^READ curl' "$STUB_LOG"; then fail "the second run fetched or updated"; fi

# Not an Ubuntu image: a clear failure before anything is installed.
new_case vm_docker_no_os_release '{"vm": {}, "globals": {}}'
if bash "$SCRIPTS/vm/docker.sh" 1001 >"$CASE/out" 2>&1; then fail "docker succeeded without /etc/os-release"; fi
grep -q 'os-release' "$CASE/out" || fail "the message does not name /etc/os-release"
[ -z "$(mutations)" ] || fail "a failed docker run changed something"
