#!/bin/bash
# A private Slurm cluster on this machine for the slurm runner's tests: munged, slurmctld and three
# slurmd "nodes" (c1..c3, each 4 CPUs, 4000 MB and one fake GPU: a character device with /dev/null's
# numbers), all state, sockets and logs under DIR, daemons running as root (CI runs as root).
# Usage: slurm_fixture.sh start DIR PORT_BASE | stop DIR | kill-node DIR NODE | start-node DIR NODE
#   start       writes DIR/etc/slurm.conf (clients: SLURM_CONF=DIR/etc/slurm.conf) and gres.conf,
#               starts the daemons and returns once every node is idle; ports PORT_BASE..+13 on
#               127.0.0.1.
#   stop        cancels every job and stops the daemons this fixture started (by their pid files).
#   kill-node   kill -9 of one node's slurmd (its jobs' processes live on, as on a lost node).
#   start-node  starts that node's slurmd again.
# Timings the tests rely on: KillWait=30 (scancel grace: longer than any grace corral gives in the
# tests, so its own SIGKILL is what ends a server that ignores SIGTERM), SlurmdTimeout=10 (a silent
# node is down).
set -euo pipefail
action=${1:?usage: slurm_fixture.sh start DIR PORT_BASE | stop DIR | kill-node DIR NODE | start-node DIR NODE}
dir=${2:?DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export SLURM_CONF=$dir/etc/slurm.conf
msock=$dir/munge/run/munge.socket.2
nodes=3

wait_until() {  # tenths of a second, then a command
  local n=$1 i=0
  shift
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt "$n" ] || return 1
    sleep 0.1
  done
}

# Whether a process is there and not a zombie (the daemons' parent here may reap them late).
alive() {
  local state
  state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

stop() {
  local pids="" f p
  for f in "$dir"/run/*.pid; do [ -s "$f" ] && pids="$pids $(cat "$f")"; done
  if [ -n "$pids" ]; then
    scancel --full --signal=KILL >/dev/null 2>&1 || true
    wait_until 100 sh -c '[ -z "$(squeue -h -o %i -t PD,CF,R,CG,S 2>/dev/null)" ]' || true
    scontrol shutdown >/dev/null 2>&1 || true
    for p in $pids; do
      wait_until 100 eval "! alive $p" || kill -9 "$p" 2>/dev/null || true
    done
  fi
  # Job steps whose slurmd went first linger, retrying it: this cluster's run in its log directory.
  for p in $(pgrep -x slurmstepd || true); do
    case "$(readlink "/proc/$p/cwd" 2>/dev/null)" in "$dir"/*) kill -9 "$p" 2>/dev/null || true ;; esac
  done
  if [ -s "$dir/munge/run/munged.pid" ]; then
    p=$(cat "$dir/munge/run/munged.pid")
    kill "$p" 2>/dev/null || true
    wait_until 50 eval "! alive $p" || true
  fi
  rm -f "$dir"/run/*.pid
}

start_slurmd() {
  mkdir -p "$dir/spool/$1"
  slurmd -f "$SLURM_CONF" -N "$1"
}

write_config() {
  local base=$1 host i
  host=$(hostname -s)
  mkdir -p "$dir"/{etc,state,spool,run,log,dev} "$dir"/munge/{etc,run,log,lib}
  chmod 700 "$dir/munge/etc" "$dir/munge/log" "$dir/munge/lib"
  chmod 755 "$dir" "$dir/munge" "$dir/munge/run"
  if [ ! -s "$dir/munge/etc/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/etc/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/etc/munge.key"
  fi
  cat >"$SLURM_CONF" <<CONF
ClusterName=corraltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$msock,cred_expire=30
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
MinJobAge=300
KillWait=30
SlurmdTimeout=10
InactiveLimit=0
# The nodes say they have 4 CPUs each on a 2-core machine: oversubscribed on purpose.
SlurmdParameters=config_overrides
GresTypes=gpu
CONF
  echo "AutoDetect=off" >"$dir/etc/gres.conf"
  for i in $(seq 1 $nodes); do
    echo "NodeName=c$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((base + 10 + i)) CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=4000 Gres=gpu:fake:1 State=UNKNOWN" >>"$SLURM_CONF"
    [ -c "$dir/dev/c$i-gpu0" ] || mknod "$dir/dev/c$i-gpu0" c 1 3
    echo "NodeName=c$i Name=gpu Type=fake File=$dir/dev/c$i-gpu0" >>"$dir/etc/gres.conf"
  done
  echo "PartitionName=main Nodes=c[1-$nodes] Default=YES MaxTime=INFINITE State=UP" >>"$SLURM_CONF"
}

case "$action" in
  stop)
    stop
    ;;
  kill-node)
    node=${3:?NODE}
    [ -s "$dir/run/slurmd-$node.pid" ] && kill -9 "$(cat "$dir/run/slurmd-$node.pid")" 2>/dev/null || true
    ;;
  start-node)
    start_slurmd "${3:?NODE}"
    ;;
  start)
    base=${3:?PORT_BASE}
    for b in munged slurmctld slurmd scontrol; do
      command -v $b >/dev/null || { echo "slurm_fixture: $b not found (apt-get install munge slurmctld slurmd slurm-client)" >&2; exit 1; }
    done
    [ ${#msock} -lt 100 ] || { echo "slurm_fixture: $dir is too long a path for munge's socket (unix sockets: 108 bytes)" >&2; exit 1; }
    stop
    rm -rf "$dir/state" "$dir/spool" "$dir/log"
    write_config "$base"
    munged --socket="$msock" --key-file="$dir/munge/etc/munge.key" --log-file="$dir/munge/log/munged.log" \
      --pid-file="$dir/munge/run/munged.pid" --seed-file="$dir/munge/lib/munged.seed"
    # slurmctld forks into the background and exits 0 even when it dies right after: ask it.
    slurmctld -f "$SLURM_CONF"
    wait_until 200 sh -c 'scontrol ping | grep -q UP' || { echo "slurm_fixture: slurmctld did not come up:" >&2; tail -n 20 "$dir/log/slurmctld.log" >&2; exit 1; }
    for i in $(seq 1 $nodes); do start_slurmd "c$i"; done
    wait_until 300 sh -c "[ \$(sinfo -h -N -t idle -o %N | sort -u | wc -l) -ge $nodes ]" ||
      { echo "slurm_fixture: the nodes did not become idle:" >&2; sinfo -N >&2; tail -n 20 "$dir"/log/slurmd-c1.log >&2; exit 1; }
    echo "slurm_fixture: $nodes nodes idle (SLURM_CONF=$SLURM_CONF)"
    ;;
  *)
    echo "slurm_fixture: unknown action $action" >&2
    exit 2
    ;;
esac
