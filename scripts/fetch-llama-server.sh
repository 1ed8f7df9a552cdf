#!/usr/bin/env bash
# Obtains a real llama-server from Debian unstable's packages and makes it run on Debian 12, cached
# outside the checkout (keyed by the package version). Prints the path of the binary.
#
# Debian 12 has no llama.cpp package; unstable does, built against a newer glibc. We download the
# packages with a private apt configuration (own sources list, lists and cache: the system's apt
# setup is never touched), unpack them into one prefix, and point the binary at that prefix's loader
# and libraries with patchelf.
#
# Environment: CORRAL_CACHE_DIR (default ~/.cache/corral).
set -euo pipefail

cache="${CORRAL_CACHE_DIR:-$HOME/.cache/corral}"
packages=(llama.cpp-tools libllama0 libggml0 libc6 libstdc++6 libgcc-s1 libgomp1 libssl3t64 zlib1g)

command -v patchelf >/dev/null || {
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends patchelf >/dev/null
}

apt_dir="$cache/apt-sid"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
echo "deb http://deb.debian.org/debian sid main" > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives"
          -o "Debug::NoLocking=1" -o "APT::Architecture=amd64" -o "Acquire::Languages=none")

# Refresh the package lists at most once a day.
if [ -z "$(find "$apt_dir/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
  apt-get "${apt_opts[@]}" update -qq 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2 || true
fi
version=$(apt-cache "${apt_opts[@]}" show llama.cpp-tools 2>/dev/null | awk '/^Version:/ {print $2; exit}')
[ -n "$version" ] || { echo "fetch-llama-server: llama.cpp-tools not found in Debian unstable" >&2; exit 1; }

# The key must not contain ":" (the epoch), which would split the RPATH.
prefix="$cache/llama-server/${version//[^A-Za-z0-9.+~-]/_}"
binary="$prefix/usr/bin/llama-server"
if [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; then
  echo "$binary"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${apt_opts[@]}" download -qq "${packages[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2 || true)
rm -rf "$prefix.tmp"
mkdir -p "$prefix.tmp"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$prefix.tmp"; done

lib="$prefix/usr/lib/x86_64-linux-gnu"
rpath="$lib:$lib/ggml:$lib/llama"
tmp_lib="$prefix.tmp/usr/lib/x86_64-linux-gnu"
patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$rpath" "$prefix.tmp/usr/bin/llama-server"
for impl in "$tmp_lib"/llama/libllama-server-impl.so*; do
  [ -f "$impl" ] && ! [ -L "$impl" ] && patchelf --set-rpath "$rpath" "$impl"
done
# ggml looks for its CPU backend next to the executable.
find "$tmp_lib" -name 'libggml-cpu*.so' -exec cp {} "$prefix.tmp/usr/bin/" \;
rm -rf "$prefix"
mv "$prefix.tmp" "$prefix"
"$binary" --version >/dev/null 2>&1 || { echo "fetch-llama-server: $binary does not run" >&2; exit 1; }
echo "$binary"
