#!/usr/bin/env bash
# Installs the Debian 12 packages corral's build and tests need (with --bench, also the benchmarks'
# peers: wrk and nginx). Idempotent: installs only what is missing, and says nothing when everything
# is already there.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config clang-format git
  libboost1.81-dev libboost-filesystem1.81-dev libboost-json1.81-dev  # Asio, Beast, Process, DLL, JSON
  libspdlog-dev libfmt-dev
  libssl-dev  # OpenSSL: TLS on the listener, SHA-256 key digests, HMAC-SHA256 for the model servers' keys
  openssl  # the TLS tests make self-signed certificates with its CLI
  libgtest-dev libgmock-dev
  curl  # e2e tests drive `corral serve` with curl
  clang libclang-rt-14-dev  # libFuzzer for the GGUF fuzz test
  libvulkan-dev mesa-vulkan-drivers  # vulkan probe: headers to build, Mesa's llvmpipe to test on
  openssh-client openssh-server  # ssh runner: the client it drives, a private sshd for its tests
  podman runc docker.io busybox-static  # container runner tests: real engines, an image made from busybox
  munge slurmctld slurmd slurm-client  # slurm runner tests: a private cluster (tests/slurm/slurm_fixture.sh)
  systemd  # systemd-analyze verifies the packaged unit (packaging/systemd/corral.service.in)
  dpkg-dev  # dpkg-shlibdeps: the Debian package's Depends (make package, the packaging test)
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(wrk nginx-light)
fi
# The openai npm client test needs Node.js and npm; a machine may already have them from elsewhere
# (e.g. NodeSource, whose nodejs package bundles npm), so only install Debian's when they are absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packages with daemons (munge, slurmctld, slurmd, sshd, dockerd) must not start system-wide copies
# here: the tests start private ones. A policy-rc.d that refuses every start, for the install only.
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  own_policy=1
fi
trap 'if [ $own_policy = 1 ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
