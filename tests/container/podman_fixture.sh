#!/bin/sh
# A private podman setup for the container runner's tests, and the test image.
# Usage: podman_fixture.sh DIR LLAMA_SERVER IMAGE
#   Writes DIR/containers.conf and DIR/storage.conf (storage under DIR, runc, cgroupfs, no systemd:
#   use them through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF) and imports IMAGE built by
#   make_rootfs.sh from the llama-server at LLAMA_SERVER, unless that image is already there.
set -eu
dir=$1
server=$2
image=$3
here=$(cd "$(dirname "$0")" && pwd)
command -v podman >/dev/null || { echo "podman_fixture: podman not found (apt-get install podman runc)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cat >"$dir/containers.conf" <<CONF
[containers]
# Root here lacks CAP_SYS_RESOURCE: podman's default ulimits cannot be raised.
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
# crun refuses this machine's hybrid cgroups; runc works. No systemd: cgroupfs, events in a file.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$dir/tmp"

[network]
network_config_dir = "$dir/networks"
CONF
cat >"$dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF
export CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf"
# The image is rebuilt when the llama-server it holds is not the one given.
source=$(readlink -f "$server")
if podman image exists "$image" && [ "$(cat "$dir/image-source" 2>/dev/null)" = "$source" ]; then
  echo "podman_fixture: $image is there"
  exit 0
fi
rootfs="$dir/rootfs.tar"
"$here/make_rootfs.sh" "$server" "$rootfs"
podman import --quiet "$rootfs" "$image" >/dev/null
rm -f "$rootfs"
echo "$source" >"$dir/image-source"
echo "podman_fixture: imported $image"
