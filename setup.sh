#!/usr/bin/env bash
# Installs what PortShare's lab, router, integration tests and package smoke test need on a Debian machine (idempotent).
# Needs root. The .NET SDK itself is a prerequisite (see README).
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v sysctl >/dev/null 2>&1 || need+=(procps)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
if ((${#need[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "setup: missing ${need[*]}; run as root (sudo ./setup.sh) to install them." >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
dotnet restore "$(dirname "$0")/PortShare.slnx" -v q >/dev/null
