#!/bin/bash
# Runs every tests/*.test.sh against the stubs; each test file runs in its own shell.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
failed=0
count=0
for t in "$here"/*.test.sh; do
    [ -e "$t" ] || continue
    count=$((count + 1))
    if bash -c 'set -euo pipefail; . "$1"; . "$2"' _ "$here/lib.sh" "$t"; then
        printf 'ok   %s\n' "$(basename "$t")"
    else
        printf 'FAIL %s\n' "$(basename "$t")"
        failed=$((failed + 1))
    fi
done
printf '%d test files, %d failed\n' "$count" "$failed"
[ "$failed" -eq 0 ]
