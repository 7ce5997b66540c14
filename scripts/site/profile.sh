# aifbench test site (scripts/setup-slurm.sh installs this as
# /etc/profile.d/lmod.sh, Debian's own file kept beside it as
# /etc/lmod/lmod-profile.sh): `module` exists only in a login shell inside a
# job of this cluster (SLURM_JOB_ID, and SLURM_CLUSTER_NAME=aifb, which
# Slurm sets in jobs and steps), as on MeluXina's compute nodes, and sees
# the site's modulefiles. Sourced by /etc/profile (sh and bash).
if [ -n "${SLURM_JOB_ID:-}" ] && [ "${SLURM_CLUSTER_NAME:-}" = aifb ]; then
  LMOD_SITE_MODULEPATH=@SITE@/modulefiles
  export LMOD_SITE_MODULEPATH
  . /etc/lmod/lmod-profile.sh
fi
