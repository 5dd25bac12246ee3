#!/bin/bash
set -euo pipefail
# lxc/step_ca.sh: repository, step-cli and step-ca, the step-ca unit written and enabled
# (not started) once; a second run changes nothing; a changed unit is reloaded.

new_case step_ca '{"ctid": 103, "container": {}}'
with_package ca-certificates curl
run_installer lxc/step_ca.sh
assert_file /etc/apt/sources.list.d/smallstep.list "https://packages.smallstep.com/stable/debian debs main"
assert_called "apt-get install -y -q --no-install-recommends step-cli step-ca"
assert_file /etc/systemd/system/step-ca.service "Environment=STEPPATH=/etc/step-ca/ssl"
assert_file /etc/systemd/system/step-ca.service \
    "ExecStart=/usr/bin/step-ca /etc/step-ca/ssl/config/ca.json --password-file /etc/step-ca/ssl/ca_password.txt"
assert_called "systemctl daemon-reload"
assert_called "systemctl enable step-ca"
assert_not_called "start step-ca"
assert_idempotent lxc/step_ca.sh

# An edited unit is put back and systemd reloaded, nothing else.
echo "# edited" >>"$PHOENIX_ROOTFS/etc/systemd/system/step-ca.service"
run_installer lxc/step_ca.sh
assert_called "systemctl daemon-reload"
assert_not_called "apt-get"
assert_not_called "enable"
