#!/usr/bin/env bash
# Installs the Debian 12 packages corral needs, only those missing, and says nothing when everything
# is already there.
#   scripts/install-deps.sh          building and the whole test suite (make test, make build)
#   scripts/install-deps.sh --demo   building corral, its plugins and the tiny-model generator only
#                                    (make demo, make package): no test engines, daemons or fuzzers
#   scripts/install-deps.sh --bench  the test suite's, and the benchmarks' peers (wrk, nginx)
set -euo pipefail

# What building corral needs (and the demo: curl to talk to it).
packages=(
  g++ cmake ninja-build make pkg-config git
  libboost1.81-dev libboost-filesystem1.81-dev libboost-json1.81-dev  # Asio, Beast, Process, DLL, JSON
  libspdlog-dev libfmt-dev
  libssl-dev  # OpenSSL: TLS on the listener, SHA-256 key digests, HMAC-SHA256 for the model servers' keys
  libvulkan-dev  # the vulkan probe's headers (its loader is opened at run time)
  libcurl4-openssl-dev  # corral pull's downloads (libcurl with OpenSSL)
  curl
)
# What the test suite adds.
test_packages=(
  clang-format  # make format-check
  openssl  # the TLS tests make self-signed certificates with its CLI
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev  # libFuzzer for the GGUF fuzz test
  lld  # links the ASan build (its debug binaries: 3 s where ld.bfd takes 15)
  mesa-vulkan-drivers  # Mesa's llvmpipe: a Vulkan device for the vulkan probe's tests
  openssh-client openssh-server  # ssh runner: the client it drives, a private sshd for its tests
  podman runc docker.io busybox-static  # container runner tests: real engines, an image made from busybox
  munge slurmctld slurmd slurm-client  # slurm runner tests: a private cluster (tests/slurm/slurm_fixture.sh)
  systemd  # systemd-analyze verifies the packaged unit (packaging/systemd/corral.service.in)
  dpkg-dev  # dpkg-shlibdeps: the Debian package's Depends (make package, the packaging test)
  groff-base  # the man page test renders it
  chromium  # the web console's browser test (driven by puppeteer-core from npm)
  nginx-light  # corral pull's tests: a local HTTPS server with Range requests
)
case "${1:-}" in
--demo) ;;
--package) packages+=(dpkg-dev) ;;
--bench) packages+=("${test_packages[@]}" wrk) ;;
"") packages+=("${test_packages[@]}") ;;
*) echo "install-deps: unknown option $1 (--demo, --package, --bench or none)" >&2; exit 2 ;;
esac
# The openai npm client test needs Node.js and npm; a machine may already have them from elsewhere
# (e.g. NodeSource, whose nodejs package bundles npm), so only install Debian's when they are absent.
if [ "${1:-}" != "--demo" ] && [ "${1:-}" != "--package" ] && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
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
