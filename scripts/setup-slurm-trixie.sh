#!/usr/bin/env bash
# Installs and starts a second single-node Slurm beside the host's 22.05:
# Slurm 24.11 from Debian trixie (what current sites run: slurmrestd serves
# only the v0.0.40+ REST API there), in a trixie root made with debootstrap
# and entered with chroot, so the bookworm host keeps its own libc and
# Slurm. munged, slurmctld, slurmd and slurmrestd (JWT, TCP loopback) run
# inside the root on ports of their own; it shares the host's network, so
# jobs' services are reachable from the driver. Idempotent: re-running
# starts only what is not running. Must run as root. For
# tests/slurm_rest_current.rs.
#
# Jobs run inside the root: they see the host only through $SHARE, a
# folder bind-mounted into the root at the same path (a test puts the
# aifbench binary and its results folder there).
#
# Writes $STATE/env (default /var/tmp/aifbench-slurm-trixie/env):
#   AIFB_SLURM_PARTITION, AIFB_SLURM_REST_URL, AIFB_SLURM_JWT_FILE,
#   AIFB_SLURM_USER, AIFB_TRIXIE_SHARE
set -euo pipefail
# shellcheck source=scripts/pidfile.sh
source "$(cd "$(dirname "$0")" && pwd)/pidfile.sh"
cd /

STATE=${AIFB_TRIXIE_STATE:-/var/tmp/aifbench-slurm-trixie}
ROOT=$STATE/root
SHARE=$STATE/share
MIRROR=${AIFB_TRIXIE_MIRROR:-http://deb.debian.org/debian}
CTLD_PORT=${AIFB_TRIXIE_SLURMCTLD_PORT:-7817}
SLURMD_PORT=${AIFB_TRIXIE_SLURMD_PORT:-7818}
REST_PORT=${AIFB_TRIXIE_REST_PORT:-6830}
PARTITION=debug
HOST=$(hostname -s)

if [ "$(id -u)" != 0 ]; then
  echo "setup-slurm-trixie.sh must run as root" >&2
  exit 1
fi
mkdir -p "$STATE" "$SHARE"
chmod 755 "$STATE"
chmod 1777 "$SHARE"

# ---- the trixie root -------------------------------------------------------
if ! [ -f "$ROOT/.aifb-debootstrap-done" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq debootstrap >/dev/null
  fi
  echo "debootstrap trixie into $ROOT"
  rm -rf "$ROOT.new"
  debootstrap --variant=minbase --include=ca-certificates trixie "$ROOT.new" "$MIRROR" \
    >"$STATE/debootstrap.log" 2>&1 || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
  touch "$ROOT.new/.aifb-debootstrap-done"
  rm -rf "$ROOT"
  mv "$ROOT.new" "$ROOT"
fi

# The kernel's file systems and the shared folder, mounted once.
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mountpoint -q "$ROOT/sys" || { mount --rbind /sys "$ROOT/sys"; mount --make-rslave "$ROOT/sys"; }
mountpoint -q "$ROOT/dev" || { mount --rbind /dev "$ROOT/dev"; mount --make-rslave "$ROOT/dev"; }
mkdir -p "$ROOT$SHARE"
mountpoint -q "$ROOT$SHARE" || mount --bind "$SHARE" "$ROOT$SHARE"

in_root() { chroot "$ROOT" "$@"; }

PACKAGES="slurm-wlm slurmrestd slurm-wlm-jwt-plugin munge"
# shellcheck disable=SC2086
if ! in_root dpkg -s $PACKAGES >/dev/null 2>&1; then
  echo "installing $PACKAGES in the trixie root"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  in_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $PACKAGES >/dev/null
fi
# Jobs resolve the node's name.
grep -qE "^127\.0\.0\.1[[:space:]].*\b$HOST\b" "$ROOT/etc/hosts" 2>/dev/null \
  || echo "127.0.0.1 $HOST" >> "$ROOT/etc/hosts"

# ---- munge (its own key and socket: the root's /run) ------------------------
mkdir -p "$ROOT/etc/munge" "$ROOT/run/munge" "$ROOT/var/lib/munge" "$ROOT/var/log/munge"
if [ ! -s "$ROOT/etc/munge/munge.key" ]; then
  dd if=/dev/urandom bs=1 count=1024 of="$ROOT/etc/munge/munge.key" status=none
fi
in_root chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0400 "$ROOT/etc/munge/munge.key"
chmod 0755 "$ROOT/run/munge"
if ! pid_alive "$ROOT/run/munge/munged.pid"; then
  in_root runuser -u munge -- /usr/sbin/munged
fi

# ---- slurm.conf ------------------------------------------------------------
mkdir -p "$ROOT/etc/slurm" "$ROOT/var/spool/slurmctld" "$ROOT/var/spool/slurmd" "$ROOT/var/log/slurm"
JWT_KEY=/etc/slurm/jwt_hs256.key
if [ ! -s "$ROOT$JWT_KEY" ]; then
  dd if=/dev/urandom bs=32 count=1 of="$ROOT$JWT_KEY" status=none
fi
chmod 0600 "$ROOT$JWT_KEY"
CPUS=$(nproc)
cat > "$STATE/slurm.conf.new" <<CONF
# Written by aifbench scripts/setup-slurm-trixie.sh
ClusterName=aifb24
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MinJobAge=600
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
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1024 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$STATE/slurm.conf.new" "$ROOT/etc/slurm/slurm.conf"; then
  mv "$STATE/slurm.conf.new" "$ROOT/etc/slurm/slurm.conf"
  stop_pidfile "$STATE/slurmrestd.pid"
  stop_pidfile "$ROOT/run/slurmd.pid"
  stop_pidfile "$ROOT/run/slurmctld.pid"
else
  rm -f "$STATE/slurm.conf.new"
fi
pid_alive "$ROOT/run/slurmctld.pid" || in_root /usr/sbin/slurmctld
pid_alive "$ROOT/run/slurmd.pid" || in_root /usr/sbin/slurmd
for _ in $(seq 1 30); do
  if in_root sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mix|alloc'; then break; fi
  sleep 1
done
if ! in_root sinfo -h -o '%T' | grep -qE 'idle|mix|alloc'; then
  in_root scontrol update nodename="$HOST" state=resume 2>/dev/null || true
  sleep 2
fi
in_root sinfo

# ---- slurmrestd (JWT on loopback) ------------------------------------------
# It refuses to run as root or SlurmUser, and without accounting only the
# slurmctld plugin loads.
if ! pid_alive "$STATE/slurmrestd.pid"; then
  SLURM_JWT=daemon setsid chroot "$ROOT" /usr/sbin/slurmrestd -u nobody -g nogroup \
    -a rest_auth/jwt -s openapi/slurmctld "127.0.0.1:$REST_PORT" \
    >"$STATE/slurmrestd.log" 2>&1 </dev/null &
  echo $! > "$STATE/slurmrestd.pid"
fi
# A token for root, valid one day; renewed on every run.
in_root scontrol token username=root lifespan=86400 | sed -n 's/^SLURM_JWT=//p' > "$STATE/jwt.new"
chmod 0600 "$STATE/jwt.new"
mv "$STATE/jwt.new" "$STATE/jwt"
for _ in $(seq 1 40); do
  curl -sf -o /dev/null -H "X-SLURM-USER-TOKEN: $(cat "$STATE/jwt")" -H "X-SLURM-USER-NAME: root" \
    "http://127.0.0.1:$REST_PORT/slurm/v0.0.40/ping" && break
  sleep 0.5
done
curl -sf -o /dev/null -H "X-SLURM-USER-TOKEN: $(cat "$STATE/jwt")" -H "X-SLURM-USER-NAME: root" \
  "http://127.0.0.1:$REST_PORT/slurm/v0.0.40/ping" \
  || { echo "slurmrestd 24.11 does not answer; see $STATE/slurmrestd.log" >&2; exit 1; }

cat > "$STATE/env" <<ENV
AIFB_SLURM_PARTITION=$PARTITION
AIFB_SLURM_REST_URL=http://127.0.0.1:$REST_PORT
AIFB_SLURM_JWT_FILE=$STATE/jwt
AIFB_SLURM_USER=root
AIFB_TRIXIE_SHARE=$SHARE
ENV
echo "Slurm 24.11 (trixie) is up; test settings in $STATE/env"
