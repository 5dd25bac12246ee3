#!/bin/bash
# lxc/base_setup.sh: missing packages installed once, the locale generated once.
set -euo pipefail

new_case base_setup '{"ctid": 100, "container": {}}'
mkdir -p "$PHOENIX_ROOTFS/etc"
with_package curl vim
run_installer lxc/base_setup.sh
assert_called "apt-get install -y -q --no-install-recommends wget htop jq git rsync gnupg locales ca-certificates"
assert_called "locale-gen"
assert_file /etc/locale.gen "en_US.UTF-8 UTF-8"
assert_file /etc/default/locale "LANG=en_US.UTF-8"
assert_idempotent lxc/base_setup.sh
