#!/usr/bin/env bash
# Installs a local Slurm (Debian's slurm-wlm 22.05 pieces: slurmctld, slurmd, slurm-client)
# and munge, so the Slurm backend of `cluster-rl sweep` can be tested against a real
# scheduler on one machine. Used by scripts/slurm/start.sh and selftest.sh.
#
# Idempotent: apt is only touched when a package is missing. Installs individual packages
# rather than the `slurm-wlm` metapackage so that --no-install-recommends keeps the
# download small (the metapackage pulls the same three daemons/clients anyway).
# Needs root (or sudo) and network access to the Debian mirrors. The packages' postinst
# scripts try to start services via invoke-rc.d; without systemd/init that is refused
# harmlessly ("policy-rc.d denied execution") -- start.sh runs the daemons directly.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

is_installed() {
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "slurm: already installed ($(dpkg-query -W -f='${Version}' slurmctld))"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "slurm install: need root or sudo" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "slurm: installing ${missing[*]} ..."
log=$(mktemp /tmp/slurm-install.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq &&
       "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "slurm install: apt-get failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
rm -f "$log"
echo "slurm: installed $(dpkg-query -W -f='${Version}' slurmctld)"
