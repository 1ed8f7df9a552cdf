#!/bin/sh
# A private sshd on loopback for the ssh runner's tests, logging in as the current user with a key
# made here. Usage: sshd_fixture.sh start|stop DIR
#   start: writes DIR/ssh_config with a Host "corral-test" (127.0.0.1, a free port, the key, a
#          known_hosts holding the server's key: StrictHostKeyChecking stays on) and starts sshd.
#   stop:  stops that sshd (servers it started are the tests' to stop).
set -eu
action=$1
dir=$2

stop() {
  if [ -s "$dir/sshd.pid" ]; then
    kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
    rm -f "$dir/sshd.pid"
  fi
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi

sshd=/usr/sbin/sshd
[ -x "$sshd" ] || { echo "sshd_fixture: $sshd not found (apt-get install openssh-server)" >&2; exit 1; }
stop
mkdir -p "$dir"
chmod 700 "$dir"
dir=$(cd "$dir" && pwd)  # sshd re-executes itself and needs absolute paths
# The sessions' home: what a test leaves under the remote ~ stays in the build tree, and bash reads
# no ~/.bashrc of the machine's for each command (on these machines pyenv's set-up: 0.5 s of CPU
# per command, most of the ssh suites' time).
mkdir -p "$dir/home"
[ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C corral-test-host -f "$dir/host_key"
[ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C corral-test-client -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
# Root's sshd needs its privilege separation directory.
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd

port=$((22000 + $$ % 2000))
tries=0
while :; do
  cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding yes
SetEnv HOME=$dir/home
# One ControlMaster connection carries a session per running server plus one per command.
MaxSessions 64
LogLevel ERROR
CONF
  # Without -D, sshd binds, then detaches: its exit status says whether it could listen.
  if "$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log"; then break; fi
  tries=$((tries + 1))
  [ $tries -lt 20 ] || { echo "sshd_fixture: sshd did not start:" >&2; tail -n 5 "$dir/sshd.log" >&2; exit 1; }
  port=$((port + 1))
done

printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
cat >"$dir/ssh_config" <<CONF
Host corral-test
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
  LogLevel ERROR
CONF
echo "sshd_fixture: sshd listening on 127.0.0.1:$port (pid $(cat "$dir/sshd.pid"))"
