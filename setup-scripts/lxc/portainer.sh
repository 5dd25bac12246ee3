#!/bin/bash
set -euo pipefail
# Feature portainer (containers): the Portainer server or agent as a Docker container, by
# role. Needs Docker (the docker feature first).
# Reads: .container.portainer_role (server: container `portainer`, ports 9443 and 8000, data
# in the volume portainer_data; agent: container `portainer_agent` on
# .container.portainer_agent_port (default 9001); none, infrastructure or absent: nothing),
# .container.portainer_version (image tag, default below).
# Idempotent: the container is created only when `docker inspect` does not know it, and
# started only when it is stopped. (A changed version or port is not applied to an existing
# container: remove it to recreate.)
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

DEFAULT_PORTAINER_VERSION=2.21.5

role="$(input '.container.portainer_role')"
case "$role" in
"" | none)
    log "portainer: no role, nothing to do"
    exit 0
    ;;
infrastructure)
    # A schema value (the v1 gateway container) that runs no Portainer container itself.
    log "portainer: role infrastructure runs no Portainer container, nothing to do"
    exit 0
    ;;
server | agent) ;;
*) die "portainer_role '$role' is not supported in a container (server, agent, infrastructure or none)" ;;
esac
version="$(input '.container.portainer_version')"
version="${version:-$DEFAULT_PORTAINER_VERSION}"

command -v docker >/dev/null 2>&1 || die "portainer needs Docker: list the docker feature before portainer"
docker info >/dev/null 2>&1 || die "portainer needs a running Docker (docker info fails): check the docker feature"

if [ "$role" = server ]; then
    name=portainer
    run_args=(-p 9443:9443 -p 8000:8000
        -v /var/run/docker.sock:/var/run/docker.sock -v portainer_data:/data
        "portainer/portainer-ce:$version")
else
    name=portainer_agent
    port="$(input '.container.portainer_agent_port')"
    port="${port:-9001}"
    run_args=(-p "$port:9001"
        -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/docker/volumes:/var/lib/docker/volumes
        "portainer/agent:$version")
fi

if ! docker inspect --type container "$name" >/dev/null 2>&1; then
    log "portainer: creating the $role container $name ($version)"
    docker run -d --name "$name" --restart=always "${run_args[@]}" >/dev/null ||
        die "docker run of $name failed"
elif [ "$(docker inspect --type container --format '{{.State.Running}}' "$name")" != true ]; then
    log "portainer: starting $name"
    docker start "$name" >/dev/null || die "cannot start the container $name"
fi

log "portainer: done ($role)"
