#!/bin/sh
# The Debian package, as a user gets it: cpack builds it from this build tree, dpkg-deb unpacks it into
# a scratch root, and what it installed runs from there alone: `corral version`, `corral plugins`
# (found next to the installed binary), and `corral serve` answering a request for a mock model.
# The unit must name the installed corral and the package must declare its libraries.
set -eu
build=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
fail() { echo "deb_test: $*" >&2; exit 1; }

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/corral_*.deb)
dpkg-deb -I "$deb" >"$work/info"
grep -q '^ Package: corral$' "$work/info" || fail "no Package: corral in $(cat "$work/info")"
grep -q '^ Depends: .*libboost-json' "$work/info" || fail "Depends lacks Boost.JSON: $(grep Depends "$work/info")"
grep -q '^ Depends: .*libcurl4' "$work/info" || fail "Depends lacks libcurl (loaded by corral pull): $(grep Depends "$work/info")"
for script in postinst prerm postrm; do dpkg-deb -I "$deb" "$script" >/dev/null || fail "no $script"; done

root=$work/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/corral usr/lib/corral/plugins/corral-llama_server.so usr/lib/corral/plugins/corral-mock.so \
         usr/lib/corral/plugins/corral-cpu.so usr/lib/systemd/system/corral.service usr/lib/sysusers.d/corral.conf \
         usr/share/corral/config.json usr/share/corral/examples/configs/demo.json usr/share/doc/corral/README.md \
         usr/include/corral/sdk/plugin_abi.h usr/share/man/man1/corral.1 usr/share/bash-completion/completions/corral; do
  [ -e "$root/$f" ] || fail "the package has no /$f"
done
ls "$root"/usr/lib/*/cmake/corral-sdk/corral-sdk-config.cmake "$root"/usr/lib/cmake/corral-sdk/corral-sdk-config.cmake 2>/dev/null | grep -q . ||
  fail "the package has no corral-sdk CMake package"
grep -qx 'ExecStart=/usr/bin/corral serve --config /etc/corral/config.json' "$root/usr/lib/systemd/system/corral.service" ||
  fail "the unit does not start the installed corral: $(grep ExecStart "$root/usr/lib/systemd/system/corral.service")"

corral=$root/usr/bin/corral
"$corral" version | grep -q '^corral ' || fail "corral version: $("$corral" version 2>&1)"
plugins=$("$corral" plugins 2>&1)
for p in llama_server ssh container slurm mock cpu; do
  echo "$plugins" | grep -qw "$p" || fail "corral plugins does not list $p: $plugins"
done

# A request served from the installed files only (plugins found next to the binary).
. "$(dirname "$0")/mock_serve.sh"
start_mock_serve "$corral" "$work" || fail "corral serve did not start"
answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
  -d '{"model":"toy","messages":[{"role":"user","content":"hi"}]}' "$serve_url/v1/chat/completions") || true
stop_mock_serve || fail "corral serve did not stop cleanly: $(tail -5 "$work/serve.log")"
echo "$answer" | grep -q '"object":"chat.completion"' || fail "no chat completion from $serve_url: $answer"
echo "deb_test: $(basename "$deb") installs and serves"
