#!/usr/bin/env bash
# Stop what tests/slurm/start-cluster.sh started, newest first, using only its pid files
# (nothing is looked up by name, so unrelated daemons on this machine are left alone), then
# remove its files from /etc/slurm and put back any the machine had there before.
DIR=${TRACEFL_SLURM_DIR:-/tmp/tracefl-slurm}

stop_pidfile() {
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(tr -dc '0-9' < "$file")
  rm -f "$file"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 60); do                 # up to 15 s for a clean shutdown
    kill -0 "$pid" 2>/dev/null || { echo "[slurm-test] stopped $(basename "$file" .pid) ($pid)"; return 0; }
    sleep 0.25
  done
  echo "[slurm-test] $(basename "$file" .pid) ($pid) ignored SIGTERM: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

for pidfile in slurmd.pid slurmctld.pid slurmdbd.pid mysql/mariadbd.pid munge/munged.pid; do
  stop_pidfile "$DIR/$pidfile"
done
ETC=/etc/slurm
MARK="Written by tracefl tests/slurm/start-cluster.sh"
for name in slurm.conf slurmdbd.conf gres.conf; do
  if [ -e "$ETC/$name" ] && grep -q "$MARK" "$ETC/$name" 2>/dev/null; then
    rm -f "$ETC/$name"
  fi
  if [ -e "$ETC/tracefl-test-backup/$name" ]; then
    mv "$ETC/tracefl-test-backup/$name" "$ETC/$name" && echo "[slurm-test] restored $ETC/$name"
  fi
done
rmdir "$ETC/tracefl-test-backup" 2>/dev/null
exit 0
