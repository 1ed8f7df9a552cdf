#!/bin/sh
# A private Docker engine for the container runner's tests, and the test image in it.
# Usage: dockerd_fixture.sh start DIR RUNDIR LLAMA_SERVER IMAGE | stop DIR RUNDIR
#   start: runs dockerd with its data under DIR and its sockets under RUNDIR (keep it short: unix
#          socket paths are limited to 108 bytes), listening on unix://RUNDIR/docker.sock, without a
#          bridge or iptables rules (tests use host networking) and in its own containerd namespace
#          (should a system containerd be running), then imports IMAGE built by
#          make_rootfs.sh unless it is there.
#   stop:  stops that dockerd (which stops its containers) and removes RUNDIR.
set -eu
action=$1
dir=$2
run=$3
docker=/usr/bin/docker  # docker.io's client, the daemon's own version

stop() {
  if [ -s "$run/docker.pid" ]; then
    pid=$(cat "$run/docker.pid")
    kill "$pid" 2>/dev/null || true
    # dockerd stops its containers first; wait for it to be gone (at most 60 s).
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  # dockerd leaves its default network namespace mounted under the exec root.
  awk -v run="$run/" 'index($2, run) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf "$run"
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi

server=$4
image=$5
here=$(cd "$(dirname "$0")" && pwd)
command -v dockerd >/dev/null && [ -x "$docker" ] || { echo "dockerd_fixture: dockerd not found (apt-get install docker.io)" >&2; exit 1; }
stop
mkdir -p "$dir" "$run"
dir=$(cd "$dir" && pwd)
setsid dockerd --data-root "$dir/data" --exec-root "$run/exec" --pidfile "$run/docker.pid" -H "unix://$run/docker.sock" \
  --bridge none --iptables=false --ip6tables=false \
  --containerd-namespace corral-test --containerd-plugins-namespace corral-test-plugins </dev/null >"$dir/dockerd.log" 2>&1 &
# Ready once the API answers (at most 60 s).
i=0
until "$docker" -H "unix://$run/docker.sock" version >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 600 ] || { echo "dockerd_fixture: dockerd did not start:" >&2; tail -n 20 "$dir/dockerd.log" >&2; exit 1; }
  sleep 0.1
done
# The image is rebuilt when the llama-server it holds is not the one given.
source=$(readlink -f "$server")
if "$docker" -H "unix://$run/docker.sock" image inspect "$image" >/dev/null 2>&1 && [ "$(cat "$dir/image-source" 2>/dev/null)" = "$source" ]; then
  echo "dockerd_fixture: dockerd ready, $image is there"
  exit 0
fi
"$here/make_rootfs.sh" "$server" "$dir/rootfs.tar"
"$docker" -H "unix://$run/docker.sock" import "$dir/rootfs.tar" "$image" >/dev/null
rm -f "$dir/rootfs.tar"
echo "$source" >"$dir/image-source"
echo "dockerd_fixture: dockerd ready, imported $image"
