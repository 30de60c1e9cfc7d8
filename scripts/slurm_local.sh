#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests and for trying sweeps without a cluster.
#
#   scripts/slurm_local.sh install  install slurm-wlm, slurmdbd, munge, mariadb-server (Debian packages, as root or via sudo)
#   scripts/slurm_local.sh start    start the daemons (needs the packages: `install` first; start never installs them)
#   scripts/slurm_local.sh stop     stop exactly the daemons `start` started (by the pids it recorded)
#   scripts/slurm_local.sh status   which of them run, and sinfo
#   scripts/slurm_local.sh env      the `export SLURM_CONF=...` line for this cluster
#
# Daemons: munged, mariadbd (accounting database, so `sacct` works), slurmdbd, slurmctld, slurmd.
# Everything listens on 127.0.0.1 and keeps its state under $STEERLAB_SLURM_DIR (default /tmp/steerlab-slurm).
# The node advertises two fake GPUs (gres without device files) so the default launcher config,
# which asks for a GPU, runs here too. Idempotent: `start` on a running cluster only reports it.
set -euo pipefail

DIR=${STEERLAB_SLURM_DIR:-/tmp/steerlab-slurm}
PORT_BASE=${STEERLAB_SLURM_PORT:-16817}   # slurmctld, slurmd, slurmdbd, mariadb = base .. base+3
CLUSTER=steerlab
NODE=localhost
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

say() { echo "slurm_local: $*" >&2; }

alive() {  # alive NAME: the recorded pid runs and is still that daemon (pids get reused)
  local pidfile="$DIR/run/$1.pid" pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$1"
}

installed() {
  local bin
  for bin in slurmctld slurmd slurmdbd munged mariadbd sacct sbatch; do
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || return 1
  done
}

install_missing() {
  installed && return 0
  say "installing slurm-wlm slurmdbd munge mariadb-server (Debian packages)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
}

write_configs() {
  local cpus mem user
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  user=$(id -un)
  mkdir -p "$DIR"/{run,log,munge,ctld,spool,mysql,dev}
  chmod 700 "$DIR/munge"
  [ -s "$DIR/munge/munge.key" ] || { dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$DIR/munge/munge.key"; }
  cat >"$DIR/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT_BASE
SlurmdPort=$((PORT_BASE + 1))
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT_BASE + 2))
AccountingStoragePass=$DIR/munge/munge.socket
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  mkdir -p "$DIR/dev" && touch "$DIR/dev/gpu0" "$DIR/dev/gpu1"   # stand-in device files: slurm drops file-less GPUs
  echo "NodeName=$NODE Name=gpu File=$DIR/dev/gpu[0-1]" >"$DIR/gres.conf"
  cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT_BASE + 2))
SlurmUser=$user
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT_BASE + 3))
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DIR/slurmdbd.conf"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2 t=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    t=$((t + 1))
    [ "$t" -le "$((limit * 2))" ] || { say "timed out waiting for $what; logs in $DIR/log"; return 1; }
    sleep 0.5
  done
}

start_munge() {
  alive munged && return 0
  munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munge.seed"
  wait_for 10 munged test -S "$DIR/munge/munge.socket"
}

start_mariadb() {
  alive mariadbd && return 0
  [ -d "$DIR/mysql/mysql" ] || mariadb-install-db --datadir="$DIR/mysql" --user="$(id -un)" --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1
  mariadbd --no-defaults --datadir="$DIR/mysql" --user="$(id -un)" --bind-address=127.0.0.1 --port=$((PORT_BASE + 3)) \
    --socket="$DIR/run/mysql.sock" --pid-file="$DIR/run/mariadbd.pid" --log-error="$DIR/log/mariadb.log" \
    --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900 >/dev/null 2>&1 &
  wait_for 60 mariadbd mariadb --no-defaults --socket="$DIR/run/mysql.sock" -u root -e "SELECT 1"
  mariadb --no-defaults --socket="$DIR/run/mysql.sock" -u root -e \
    "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
     CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
     GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start_slurm() {
  export SLURM_CONF="$DIR/slurm.conf"
  alive slurmdbd || { slurmdbd; wait_for 30 slurmdbd sacctmgr -i show cluster; }
  sacctmgr -i show cluster format=cluster -n | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
  alive slurmctld || { slurmctld; wait_for 30 slurmctld scontrol ping; }
  alive slurmd || slurmd -N "$NODE"
  sleep 1
  # a node drained in an earlier life of this cluster (state is kept in $DIR/ctld) comes back
  sinfo -h -n "$NODE" -o %t | grep -q drain && scontrol update nodename="$NODE" state=resume || true
  wait_for 60 "node $NODE to come up" sh -c "sinfo -h -n $NODE -o %t | grep -qE '^(idle|mix|alloc)'"
}

link_etc() {  # so plain `sbatch`/`sacct` find this cluster on a machine that has no slurm.conf of its own
  if [ ! -e /etc/slurm/slurm.conf ] && [ -w /etc/slurm ] 2>/dev/null; then
    ln -s "$DIR/slurm.conf" /etc/slurm/slurm.conf && touch "$DIR/run/etc-link"
  fi
}

cmd_start() {
  installed || { echo "SLURM is not installed here: run 'bash scripts/slurm_local.sh install' first (Debian packages)" >&2; exit 1; }
  write_configs
  start_munge
  start_mariadb
  start_slurm
  link_etc
  say "cluster '$CLUSTER' is up (state in $DIR)"
  cmd_env
}

cmd_stop() {
  local name pid
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    name=${DAEMONS[$i]}
    alive "$name" || continue
    pid=$(cat "$DIR/run/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/run/$name.pid"
    say "stopped $name ($pid)"
  done
  if [ -e "$DIR/run/etc-link" ] && [ -L /etc/slurm/slurm.conf ]; then rm -f /etc/slurm/slurm.conf "$DIR/run/etc-link"; fi
}

cmd_status() {
  local up=0
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then echo "$name running (pid $(cat "$DIR/run/$name.pid"))"; up=$((up + 1)); else echo "$name stopped"; fi
  done
  [ "$up" = "${#DAEMONS[@]}" ] && SLURM_CONF="$DIR/slurm.conf" sinfo
  [ "$up" = "${#DAEMONS[@]}" ]
}

cmd_env() { echo "export SLURM_CONF=$DIR/slurm.conf"; }

case "${1:-}" in
  install) install_missing ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
