#!/bin/bash
set -euo pipefail
# lxc/python_api_service.sh: the missing Python packages installed once.

new_case python_api_service '{"ctid": 914, "container": {}}'
with_package python3
run_installer lxc/python_api_service.sh
assert_called "apt-get install -y -q --no-install-recommends python3-pip python3-venv"
assert_idempotent lxc/python_api_service.sh
