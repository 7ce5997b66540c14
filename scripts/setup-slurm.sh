#!/usr/bin/env bash
# Installs and starts a single-node Slurm 22.05 cluster on this machine for
# the aifbench Slurm tests: munged, MariaDB and slurmdbd (accounting, so
# `sacct` and slurmrestd's slurmdb endpoint know a job the controller has
# forgotten), slurmctld, slurmd, slurmrestd (unix socket with local auth,
# and TCP loopback with JWT), and an sshd on a loopback port for the SSH
# transport. Idempotent: re-running starts only what is not running. Must
# run as root.
#
# Writes $STATE/env (default /var/tmp/aifbench-slurm/env), a shell-style
# file the tests read:
#   AIFB_SLURM_PARTITION, AIFB_SLURM_REST_URL, AIFB_SLURM_REST_SOCKET,
#   AIFB_SLURM_JWT_FILE, AIFB_SSH_HOST, AIFB_SSH_PORT, AIFB_SSH_USER,
#   AIFB_SSH_KEY, AIFB_SSH_KNOWN_HOSTS,
#   AIFB_TEST_JOB_USER, AIFB_TEST_JOB_DIR: an unprivileged user that logs in
#   over the same ssh key (its jobs run as that user and cannot see root's
#   folders) and a folder it owns, for the test of results coming back
#   without a shared filesystem (tests/slurm_remote_results.rs)
#   AIFB_SITE_PARTITION, AIFB_SITE_DIR: the MeluXina-like site traits below
#   AIFB_SLURM_JOB_AGE_CONF: the file slurm.conf includes for MinJobAge
#   (600 s here); a test may lower it and `scontrol reconfigure`
#   (tests/slurm_accounting.rs), the next run of this script restores it
#
# Site traits (MeluXina's, where they change what aifbench renders; beside
# the default partition, which the other tests use unchanged):
#   - partitions `cpu` and `gpu` on the one node, whole-node
#     (OverSubscribe=EXCLUSIVE); the node declares 4 GPUs (gres.conf: four
#     links to /dev/null, no real device), so `--gres=gpu:1` is accepted;
#   - jobs on cpu/gpu must give --account and --qos, refused otherwise by
#     scripts/site/job_submit.lua (JobSubmitPlugins=lua: no slurmdbd here);
#   - `module` (Debian's Lmod) only in a login shell inside a job
#     (scripts/site/profile.sh replaces /etc/profile.d/lmod.sh), seeing the
#     site's modulefiles: env/release/2023.1, then
#     Apptainer/1.2.4-GCCcore-12.3.0, whose stand-in `apptainer`
#     (scripts/site/bin/apptainer) records its argv and runs `aifbench sim`
#     for vLLM. Installed under $STATE/site.
set -euo pipefail
# shellcheck source=scripts/pidfile.sh
source "$(cd "$(dirname "$0")" && pwd)/pidfile.sh"
SRC=$(cd "$(dirname "$0")" && pwd)
# Daemons started below inherit the working directory: use one that cannot
# disappear (slurmrestd dies on its next request when its directory is gone).
cd /

STATE=${AIFB_SLURM_STATE:-/var/tmp/aifbench-slurm}
REST_PORT=${AIFB_SLURM_REST_PORT:-6820}
DBD_PORT=${AIFB_SLURMDBD_PORT:-6819}
SSH_PORT=${AIFB_SSH_PORT:-2222}
JOB_USER=${AIFB_TEST_JOB_USER:-aifbjob}
PARTITION=debug
SITE_PARTITION=gpu
HOST=$(hostname -s)
SITE=$STATE/site

if [ "$(id -u)" != 0 ]; then
  echo "setup-slurm.sh must run as root" >&2
  exit 1
fi
mkdir -p "$STATE"
chmod 755 "$STATE"

need_install=0
for b in sbatch slurmctld slurmd slurmrestd slurmdbd munged mariadbd sshd; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need_install=1
done
if [ $need_install = 1 ]; then
  echo "installing slurm-wlm slurmrestd slurmdbd mariadb-server munge openssh-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm slurmrestd slurmdbd mariadb-server munge openssh-server \
    openssh-client >/dev/null
fi
if ! [ -f /usr/share/lmod/lmod/init/profile ]; then
  echo "installing lmod"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends lmod >/dev/null
fi
export PATH=$PATH:/usr/sbin

running() { pgrep -x "$1" >/dev/null 2>&1; }

# ---- munge -----------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! running munged; then
  munged --force 2>/dev/null || munged --force
fi

# ---- slurm.conf ------------------------------------------------------------
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
JWT_KEY=/etc/slurm/jwt_hs256.key
if [ ! -s "$JWT_KEY" ]; then
  dd if=/dev/urandom bs=32 count=1 of="$JWT_KEY" status=none
fi
chmod 0600 "$JWT_KEY"
# MinJobAge in a file of its own: a test lowers it for a while; every run
# of this script puts the default back (applied by the reconfigure below).
JOB_AGE_CONF=$STATE/job-age.conf
job_age_changed=0
if [ "$(cat "$JOB_AGE_CONF" 2>/dev/null)" != "MinJobAge=600" ]; then
  echo "MinJobAge=600" > "$JOB_AGE_CONF"
  job_age_changed=1
fi
chmod 644 "$JOB_AGE_CONF"
MEM_MB=$(awk '/MemTotal/ {print int($2/1024) - 256}' /proc/meminfo)
# Site traits: the submission rule (lua) and the GPUs, as a count.
cp "$SRC/site/job_submit.lua" "$STATE/job_submit.lua.new"
if cmp -s "$STATE/job_submit.lua.new" /etc/slurm/job_submit.lua; then
  rm -f "$STATE/job_submit.lua.new"
else
  mv "$STATE/job_submit.lua.new" /etc/slurm/job_submit.lua
fi
# Slurm's gres/gpu wants device files: four links to /dev/null.
mkdir -p "$STATE/fake-gpus"
for i in 0 1 2 3; do
  ln -sfn /dev/null "$STATE/fake-gpus/nvidia$i"
done
printf 'NodeName=%s Name=gpu File=%s/fake-gpus/nvidia[0-3]\n' "$HOST" "$STATE" > "$STATE/gres.conf.new"
gres_changed=0
if cmp -s "$STATE/gres.conf.new" /etc/slurm/gres.conf; then
  rm -f "$STATE/gres.conf.new"
else
  mv "$STATE/gres.conf.new" /etc/slurm/gres.conf
  gres_changed=1
fi
cat > "$STATE/slurm.conf.new" <<CONF
# Written by aifbench scripts/setup-slurm.sh
ClusterName=aifb
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
JobSubmitPlugins=lua
GresTypes=gpu
ReturnToService=2
Include $JOB_AGE_CONF
KillWait=5
InactiveLimit=0
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=8 RealMemory=$MEM_MB Gres=gpu:4 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=$HOST OverSubscribe=EXCLUSIVE MaxTime=2-00:00:00 State=UP
PartitionName=$SITE_PARTITION Nodes=$HOST OverSubscribe=EXCLUSIVE MaxTime=2-00:00:00 State=UP
CONF
restart=$gres_changed
if ! cmp -s "$STATE/slurm.conf.new" /etc/slurm/slurm.conf; then
  mv "$STATE/slurm.conf.new" /etc/slurm/slurm.conf
  restart=1
else
  rm -f "$STATE/slurm.conf.new"
fi

# ---- accounting: MariaDB and slurmdbd -------------------------------------
# One database on the unix socket only (no TCP); slurmdbd runs as root and
# logs in as MariaDB's root through unix_socket authentication.
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld
if ! [ -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
fi
if ! mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
  setsid mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
    >"$STATE/mariadb.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db"
cat > "$STATE/slurmdbd.conf.new" <<CONF
# Written by aifbench scripts/setup-slurm.sh
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
CONF
if ! cmp -s "$STATE/slurmdbd.conf.new" /etc/slurm/slurmdbd.conf; then
  mv "$STATE/slurmdbd.conf.new" /etc/slurm/slurmdbd.conf
  stop_pidfile /run/slurmdbd.pid
else
  rm -f "$STATE/slurmdbd.conf.new"
fi
chmod 0600 /etc/slurm/slurmdbd.conf
pid_alive /run/slurmdbd.pid || slurmdbd
for _ in $(seq 1 30); do
  sacctmgr -n list cluster format=cluster >/dev/null 2>&1 && break
  sleep 0.5
done
# The cluster, and the QoS the site's jobs name (tests/meluxina_site.rs).
sacctmgr -n -P list cluster format=cluster | grep -qx aifb || sacctmgr -i add cluster aifb >/dev/null
sacctmgr -n -P list qos format=name | grep -qx default || sacctmgr -i add qos default >/dev/null

# A changed configuration restarts the daemons this script started (by
# their pid files, never by name).
if [ $restart = 1 ]; then
  stop_pidfile "$STATE/slurmrestd-unix.pid"
  stop_pidfile "$STATE/slurmrestd-jwt.pid"
  stop_pidfile /run/slurmd.pid
  stop_pidfile /run/slurmctld.pid
  sleep 1
fi
running slurmctld || slurmctld
running slurmd || slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mix|alloc'; then break; fi
  sleep 1
done
if ! sinfo -h -o '%T' | grep -qE 'idle|mix|alloc'; then
  scontrol update nodename="$HOST" state=resume 2>/dev/null || true
  sleep 2
fi
if [ $restart = 0 ] && [ $job_age_changed = 1 ]; then
  scontrol reconfigure
fi
sinfo

# ---- site: modules only inside jobs ---------------------------------------
# The modulefiles and the stand-in, copied where jobs find them (the
# modulefiles locate the stand-in relative to themselves).
rm -rf "$SITE.new"
mkdir -p "$SITE.new"
cp -R "$SRC/site/modulefiles" "$SRC/site/release" "$SRC/site/bin" "$SITE.new/"
chmod -R a+rX "$SITE.new"
rm -rf "$SITE"
mv "$SITE.new" "$SITE"
# Debian's Lmod hook, kept aside once, behind ours (jobs only).
if [ -f /etc/profile.d/lmod.sh ] && ! grep -q 'aifbench test site' /etc/profile.d/lmod.sh; then
  mv /etc/profile.d/lmod.sh /etc/lmod/lmod-profile.sh
fi
sed "s|@SITE@|$SITE|" "$SRC/site/profile.sh" > /etc/profile.d/lmod.sh
chmod 644 /etc/profile.d/lmod.sh

# ---- slurmrestd ------------------------------------------------------------
SOCK_DIR=$STATE/rest
SOCK=$SOCK_DIR/slurmrestd.sock
mkdir -p "$SOCK_DIR"
chown nobody:nogroup "$SOCK_DIR"
if ! pgrep -f "slurmrestd.*unix:$SOCK" >/dev/null; then
  rm -f "$SOCK"
  setsid slurmrestd -u nobody -g nogroup -s openapi/v0.0.38,openapi/dbv0.0.38 -a rest_auth/local "unix:$SOCK" \
    >"$STATE/slurmrestd-unix.log" 2>&1 </dev/null &
  echo $! > "$STATE/slurmrestd-unix.pid"
fi
if ! pgrep -f "slurmrestd.*127.0.0.1:$REST_PORT" >/dev/null; then
  SLURM_JWT=daemon setsid slurmrestd -u nobody -g nogroup -s openapi/v0.0.38,openapi/dbv0.0.38 -a rest_auth/jwt \
    "127.0.0.1:$REST_PORT" >"$STATE/slurmrestd-jwt.log" 2>&1 </dev/null &
  echo $! > "$STATE/slurmrestd-jwt.pid"
fi
# A token for root, valid one day; renewed on every run.
scontrol token username=root lifespan=86400 | sed -n 's/^SLURM_JWT=//p' > "$STATE/jwt.new"
chmod 0600 "$STATE/jwt.new"
mv "$STATE/jwt.new" "$STATE/jwt"

# ---- sshd on loopback ------------------------------------------------------
SSH_DIR=$STATE/ssh
mkdir -p "$SSH_DIR" /run/sshd
# 711 and a world-readable authorized_keys (a public key): sshd reads it as
# the user logging in, so $JOB_USER can log in with the same key; the private
# keys stay 0600.
chmod 711 "$SSH_DIR"
[ -s "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_ed25519"
[ -s "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/id_ed25519"
cp "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
chmod 644 "$SSH_DIR/authorized_keys"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" > "$SSH_DIR/known_hosts"
cat > "$SSH_DIR/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/host_ed25519
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 50
MaxStartups 50:30:100
CONF
if ! [ -s "$SSH_DIR/sshd.pid" ] || ! kill -0 "$(cat "$SSH_DIR/sshd.pid")" 2>/dev/null; then
  /usr/sbin/sshd -f "$SSH_DIR/sshd_config"
fi

# ---- an unprivileged job user ----------------------------------------------
# Logs in over the loopback sshd with the same key; its jobs run as itself,
# so they cannot read or write root's 0700 folders (a cluster that does not
# share the driver's results folder). Its home holds the jobs' run folders.
JOB_HOME=$STATE/$JOB_USER
if ! id -u "$JOB_USER" >/dev/null 2>&1; then
  useradd --system --home-dir "$JOB_HOME" --shell /bin/bash "$JOB_USER"
fi
# No password, but not locked ('!'): sshd without PAM refuses locked accounts.
usermod -p '*' "$JOB_USER"
mkdir -p "$JOB_HOME/runs"
chown -R "$JOB_USER": "$JOB_HOME"
chmod 755 "$JOB_HOME"

# ---- wait for slurmrestd ---------------------------------------------------
for _ in $(seq 1 20); do
  [ -S "$SOCK" ] && curl -sf -o /dev/null -H "X-SLURM-USER-TOKEN: $(cat "$STATE/jwt")" \
    -H "X-SLURM-USER-NAME: root" "http://127.0.0.1:$REST_PORT/slurm/v0.0.38/ping" && break
  sleep 0.5
done

cat > "$STATE/env" <<ENV
AIFB_SLURM_PARTITION=$PARTITION
AIFB_SLURM_REST_URL=http://127.0.0.1:$REST_PORT
AIFB_SLURM_REST_SOCKET=$SOCK
AIFB_SLURM_JWT_FILE=$STATE/jwt
AIFB_SLURM_USER=root
AIFB_SSH_HOST=127.0.0.1
AIFB_SSH_PORT=$SSH_PORT
AIFB_SSH_USER=root
AIFB_SSH_KEY=$SSH_DIR/id_ed25519
AIFB_SSH_KNOWN_HOSTS=$SSH_DIR/known_hosts
AIFB_TEST_JOB_USER=$JOB_USER
AIFB_TEST_JOB_DIR=$JOB_HOME/runs
AIFB_SITE_PARTITION=$SITE_PARTITION
AIFB_SITE_DIR=$SITE
AIFB_SLURM_JOB_AGE_CONF=$JOB_AGE_CONF
ENV
echo "Slurm is up; test settings in $STATE/env"
