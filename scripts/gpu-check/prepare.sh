#!/usr/bin/env bash
# Makes .gpu-check/, what scripts/gpu-check/run.sh needs on a lent GPU machine (Ubuntu, no network):
# corral's Debian package (make package), the Debian 12 libraries it links that Ubuntu lacks, the
# test llama-server's prefix (its RPATH and loader are absolute, so run.sh unpacks it at the same
# path), and the tiny model. Then, with the device tool: run `bash scripts/gpu-check/run.sh`,
# carry [".gpu-check"]. The whole check takes ~10 s there.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu-check
deb=$(ls -t build-package/corral_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "no package: run 'make package' first" >&2; exit 1; }
grep -qx "/$out/" .git/info/exclude 2>/dev/null || echo "/$out/" >> .git/info/exclude
rm -rf "$out" && mkdir -p "$out/libs"
cp "$deb" "$out/corral.deb"
for lib in libboost_json.so.1.81.0 libboost_filesystem.so.1.81.0 libspdlog.so.1.10 libfmt.so.9; do
  cp -L "/lib/x86_64-linux-gnu/$lib" "$out/libs/"
done
llama=$(scripts/fetch-llama-server.sh)
prefix=$(dirname "$(dirname "$(dirname "$llama")")")
[ "$prefix" = "/root/.cache/corral/llama-server/$(basename "$prefix")" ] ||
  { echo "run.sh expects the llama-server prefix under /root/.cache/corral (got $prefix)" >&2; exit 1; }
# Only llama-server and its libraries: the other tools, docs and locales would not fit the carry limit.
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
cp -a "$prefix" "$tmp/"
p="$tmp/$(basename "$prefix")"
rm -rf "$p/usr/share" "$p/usr/lib/x86_64-linux-gnu/gconv" "$p"/usr/lib/x86_64-linux-gnu/ggml/backends0/libggml-cpu* \
       "$p"/usr/bin/llama-{bench,cli,completion,quantize} "$p"/usr/lib/x86_64-linux-gnu/ggml/backends0/libllama-{bench,cli,completion,quantize}-impl.so
tar cJf "$out/llama.tar.xz" -C "$tmp" "$(basename "$prefix")"
[ -x build/corral-make-tiny-gguf ] || { echo "no build/corral-make-tiny-gguf: run 'make build' first" >&2; exit 1; }
build/corral-make-tiny-gguf "$out/tiny-a.gguf" tiny-a
# The Vulkan loader and libglvnd (the image has NVIDIA's Vulkan ICD but neither): scripts/gpu-check/run.sh
# unpacks them into a scratch prefix for the vulkan probe.
mkdir -p "$out/vk" && (cd "$out/vk" && apt-get download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 2>&1 | grep -v '^W:' >&2 || true)
du -sh "$out"
