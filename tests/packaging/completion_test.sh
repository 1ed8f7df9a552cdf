#!/bin/bash
# The bash completion (packaging/completion/corral.bash) against this build's corral, as bash calls
# it: commands and options read from corral's --help, option values, GGUF files, and model names
# from a running `corral serve` (one mock model).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$1       # the directory holding corral
completion=$2  # the completion script
work=$3
rm -rf "$work"
mkdir -p "$work/files/models"
export PATH="$build:$PATH"
# shellcheck source=/dev/null
. "$completion"
failed=0

# The sorted candidates for a command line whose last word is being completed.
candidates() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _corral 2>/dev/null
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' '
}
expect() {
  local want=$1
  shift
  local got
  got=$(candidates "$@")
  if [ "$got" != "$want" ]; then
    echo "completing '$*': expected '$want', got '$got'"
    failed=1
  fi
}

expect "load logs " corral l
expect "config " corral --log-level debug co
expect "debug " corral --log-level de
expect "check " corral config ""
expect "inspect " corral plugins ins
expect "--json " corral ps --url http://x --j
expect "--quiet " corral ps --q
expect "--api-key --cacert --config --help --json --quiet --url " corral ps --
expect "" corral ps --url ""
expect "--lines " corral logs -f --li
cd "$work/files" || exit 1
touch models/a.gguf models/b.txt config.json
expect "models/a.gguf " corral fit models/
expect "config.json " corral serve --config conf
expect "config.json " corral config check c

# Model names from the server named on the line.
. "$here/mock_serve.sh"
start_mock_serve "$build/corral" "$work" || { echo "corral serve did not start"; exit 1; }
expect "toy " corral load --url "$serve_url" t
expect "toy " corral logs --url "$serve_url" -f ""
expect "" corral load --url http://127.0.0.1:1 t  # nothing there: no candidates, no error
stop_mock_serve || { echo "corral serve did not stop cleanly"; failed=1; }
[ "$failed" = 0 ] && echo "completion_test: all cases complete as expected"
exit "$failed"
