#!/bin/sh
# The man page made at build time (packaging/man/make-manpage.sh): a section for every command
# `corral --help` lists, every option of a command's --help in it, and valid roff (groff -ww warns
# about nothing).
set -u
corral=$1
page=$2
failed=0
[ -s "$page" ] || { echo "no man page at $page"; exit 1; }
commands=$(mktemp)
trap 'rm -f "$commands"' EXIT
"$corral" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z]*\( [a-z][a-z]*\)\{0,1\}\)  .*/\1/p' >"$commands"
[ "$(wc -l <"$commands")" -ge 10 ] || { echo "too few commands in corral --help"; exit 1; }
while read -r command; do
  grep -q "^\.SS \"corral $command " "$page" || { echo "no section for corral $command"; failed=1; }
  # shellcheck disable=SC2086
  "$corral" $command --help | sed -n 's/^  \(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' | while read -r option; do
    escaped=$(printf '%s' "$option" | sed 's/-/\\\\-/g')
    grep -q "^\.B .*$escaped" "$page" || { echo "corral $command: $option is not in the man page"; exit 1; }
  done || failed=1
done <"$commands"
warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
[ -z "$warnings" ] || { echo "groff: $warnings"; failed=1; }
[ "$failed" = 0 ] && echo "manpage_test: every command and option is in $(basename "$page")"
exit "$failed"
