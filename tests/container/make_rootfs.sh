#!/bin/sh
# Writes a container root filesystem (a tar) holding the test llama-server and a static busybox, for
# `podman import` / `docker import`: no registry is needed. Usage: make_rootfs.sh LLAMA_SERVER OUT.tar
#
# The llama-server from scripts/fetch-llama-server.sh runs from its own prefix (its loader and
# libraries, found by absolute paths patched into it), so the prefix keeps its path inside the image.
set -eu
server=$(readlink -f "$1")
out=$2
prefix=$(dirname "$(dirname "$(dirname "$server")")")  # <prefix>/usr/bin/llama-server
busybox=/bin/busybox
[ -x "$busybox" ] && file_is_static=$(ldd "$busybox" 2>&1 | grep -c "not a dynamic") || file_is_static=0
[ "$file_is_static" -ge 1 ] || { echo "make_rootfs: $busybox is missing or not static (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/models" "$root/lib64" "$root$prefix"
cp "$busybox" "$root/bin/busybox"
for app in sh ls cat sleep kill ps; do ln -s busybox "$root/bin/$app"; done
cp -a "$prefix/." "$root$prefix/"
loader="$prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -s "$loader" "$root/lib64/ld-linux-x86-64.so.2"
# Libraries the server finds outside its prefix (the system's libzstd, say) come along at their paths.
for object in "$server" "$prefix"/usr/bin/libggml-*.so; do
  [ -f "$object" ] || continue
  "$loader" --list "$object" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  case "$lib" in "$prefix"/*) continue ;; esac
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
ln -s "$server" "$root/bin/llama-server"
chmod 1777 "$root/tmp"
tar -C "$root" -cf "$out" .
