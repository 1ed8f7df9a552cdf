#!/bin/sh
# Checks a systemd unit with systemd-analyze verify: it must exit 0 and say nothing (it only warns,
# exit 0, about an unknown key or a bad value, which would leave the service unhardened or broken).
set -u
unit=$1
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found (Debian package systemd)" >&2; exit 1; }
out=$(systemd-analyze verify "$unit" 2>&1)
status=$?
[ -n "$out" ] && printf '%s\n' "$out"
[ "$status" -eq 0 ] && [ -z "$out" ]
