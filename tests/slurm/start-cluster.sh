#!/usr/bin/env bash
# Bring up a throw-away, single-node SLURM cluster on this machine for tests/test_slurm.py.
#
#   tests/slurm/start-cluster.sh     # as root; then sinfo, sbatch, sacct, snakemake --profile ...
#   tests/slurm/stop-cluster.sh      # stops every daemon this script started
#
# What runs: munged (authentication; one already running is used as it is), MariaDB +
# slurmdbd (accounting, so that `sacct` works: snakemake-executor-plugin-slurm asks sacct
# for job states by default), slurmctld (controller) and slurmd (the one compute node).
# Debian/Ubuntu packages (SLURM 22.05 on Debian 12), no systemd: each daemon is started by
# hand with its pid file under $TRACEFL_SLURM_DIR, which also holds state, database and logs.
# The configuration has to be in /etc/slurm: inside a job the plugin drops every SLURM_*
# variable (SLURM_CONF too) before its `srun`, so only the default location works. Files
# found there that this script did not write are set aside and put back by stop-cluster.sh.
#
# The node offers every core, 90% of the memory and, unless TRACEFL_SLURM_FAKE_GPU=0,
# one "GPU" GRES backed by /dev/null: jobs that ask for `--gpus=1` (the profile's
# `gpu: 1`) get scheduled, and find no CUDA device, so the code falls back to the CPU.
#
# Needs root and apt-get; exit status 3: the packages could not be installed.
# Prints how long packages and start-up took.
set -euo pipefail

DIR=${TRACEFL_SLURM_DIR:-/tmp/tracefl-slurm}
FAKE_GPU=${TRACEFL_SLURM_FAKE_GPU:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
HOST=$(hostname -s)
NCPU=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
DB_PORT=${TRACEFL_SLURM_DB_PORT:-3307}
ETC=/etc/slurm
BACKUP="$ETC/tracefl-test-backup"   # the machine's own files, while the test cluster runs
MARK="Written by tracefl tests/slurm/start-cluster.sh"

say() { echo "[slurm-test] $*"; }
die() {
  echo "[slurm-test] ERROR: $*" >&2
  tail -n 30 "$DIR"/log/*.log "$DIR"/munge/*.log "$DIR"/mysql/*.log 2>/dev/null >&2 || true
  exit 1
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.25 s
  local limit=$1 what=$2; shift 2
  local tries=$((limit * 4))
  until "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.25
  done
}

[ "$(id -u)" = 0 ] || die "must run as root"
command -v apt-get >/dev/null || die "apt-get not found"

# A previous run of ours may have left daemons behind: stop them (by our pid files only).
"$HERE/stop-cluster.sh" >/dev/null 2>&1 || true

# ---------------------------------------------------------------- packages
t_pkg=$(date +%s)
PACKAGES="munge slurmctld slurmd slurm-client slurmdbd mariadb-server"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Exit status 3 means "could not install" (no registry, no such packages): the test skips.
  apt-get update -qq || { echo "[slurm-test] apt-get update failed" >&2; exit 3; }
  # A policy-rc.d that says 101 keeps the packages' maintainer scripts from starting the
  # services themselves (we start them below, with our own files); one already there stays.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  status=0
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || status=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$status" = 0 ] || { echo "[slurm-test] apt-get install$missing failed ($status)" >&2; exit 3; }
fi
say "packages ready in $(( $(date +%s) - t_pkg ))s (slurm $(dpkg-query -W -f='${Version}' slurmctld))"

# ---------------------------------------------------------------- layout
t_up=$(date +%s)
rm -rf "$DIR"
mkdir -p "$DIR"/{state,spool,log} "$ETC"
for name in slurm.conf slurmdbd.conf gres.conf; do
  if [ -e "$ETC/$name" ] && ! grep -q "$MARK" "$ETC/$name"; then
    mkdir -p "$BACKUP"
    mv "$ETC/$name" "$BACKUP/$name"
    say "set aside this machine's $ETC/$name (stop-cluster.sh puts it back)"
  fi
done
# munged and mariadbd drop to their own users: give them directories they can write.
install -d -o munge -g munge -m 0755 "$DIR/munge"
install -d -o mysql -g mysql -m 0755 "$DIR/mysql" "$DIR/mysql/data"

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 0600 /etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged already running: using it (and leaving it running)"
else
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged --pid-file="$DIR/munge/munged.pid" \
    --log-file="$DIR/munge/munged.log" || die "munged did not start"
  wait_for 10 "munge" sh -c 'munge -n | unmunge'
fi

# ---------------------------------------------------------------- MariaDB (private data dir and port)
SOCK="$DIR/mysql/mysqld.sock"
mariadb-install-db --user=mysql --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket \
  >"$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
setsid /usr/sbin/mariadbd --user=mysql --datadir="$DIR/mysql/data" --socket="$SOCK" \
  --pid-file="$DIR/mysql/mariadbd.pid" --port="$DB_PORT" --bind-address=127.0.0.1 \
  --skip-name-resolve --log-error="$DIR/mysql/mariadb.log" </dev/null >/dev/null 2>&1 &
wait_for 60 "MariaDB" mariadb-admin --socket="$SOCK" ping
mariadb --socket="$SOCK" -e "
  CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'tracefl-test';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "could not create the accounting database"

# ---------------------------------------------------------------- configuration
cat > "$ETC/slurmdbd.conf" <<EOF
# $MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=tracefl-test
StorageLoc=slurm_acct_db
EOF
chmod 0600 "$ETC/slurmdbd.conf"

GRES_NODE=""
GRES_TYPES=""
if [ "$FAKE_GPU" = 1 ]; then
  GRES_TYPES="GresTypes=gpu"
  GRES_NODE="Gres=gpu:1"
  printf '# %s\nNodeName=%s Name=gpu File=/dev/null\n' "$MARK" "$HOST" > "$ETC/gres.conf"
fi

cat > "$ETC/slurm.conf" <<EOF
# $MARK: one node, one partition, root everywhere.
ClusterName=tracefl-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
$GRES_TYPES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB $GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# ---------------------------------------------------------------- SLURM daemons (each forks)
slurmdbd || die "slurmdbd did not start"
wait_for 30 "slurmdbd" sacctmgr --noheader list cluster
slurmctld || die "slurmctld did not start"
slurmd || die "slurmd did not start"
node_idle() { [ "$(sinfo --noheader --nodes="$HOST" --format=%T)" = idle ]; }
wait_for 60 "node $HOST to be idle" node_idle
wait_for 30 "sacct" sacct --noheader -X
srun --nodes=1 --ntasks=1 --time=1 true || die "a test srun failed"
sinfo
say "daemons ready in $(( $(date +%s) - t_up ))s (state, logs: $DIR)"
