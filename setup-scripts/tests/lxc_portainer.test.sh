#!/bin/bash
set -euo pipefail
# lxc/portainer.sh: by role, the server or agent container created once, started when
# stopped; no role does nothing; without Docker it fails.

new_case portainer_server '{"ctid": 101, "container": {"portainer_role": "server"}}'
run_installer lxc/portainer.sh
assert_called "docker run -d --name portainer --restart=always -p 9443:9443 -p 8000:8000 -v /var/run/docker.sock:/var/run/docker.sock -v portainer_data:/data portainer/portainer-ce:2.21.5"
assert_idempotent lxc/portainer.sh

# Stopped: started, not recreated.
docker stop portainer
run_installer lxc/portainer.sh
assert_called "docker start portainer"
assert_not_called "docker run"
assert_idempotent lxc/portainer.sh

new_case portainer_agent '{"ctid": 102, "container": {"portainer_role": "agent", "portainer_agent_port": 9101, "portainer_version": "2.19.4"}}'
run_installer lxc/portainer.sh
assert_called "docker run -d --name portainer_agent --restart=always -p 9101:9001 -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/docker/volumes:/var/lib/docker/volumes portainer/agent:2.19.4"
assert_idempotent lxc/portainer.sh

for role in '' '"portainer_role": "none"' '"portainer_role": "infrastructure"'; do
    new_case portainer_none "{\"ctid\": 103, \"container\": {$role}}"
    run_installer lxc/portainer.sh
    [ ! -s "$STUB_LOG" ] || fail "no role, yet: $(cat "$STUB_LOG")"
done

new_case portainer_no_docker '{"ctid": 101, "container": {"portainer_role": "server"}}'
echo 1 >"$STUB_STATE/docker_info_rc"
run_fails lxc/portainer.sh "portainer needs a running Docker"

new_case portainer_unknown '{"ctid": 101, "container": {"portainer_role": "primary"}}'
run_fails lxc/portainer.sh "portainer_role 'primary' is not supported"
