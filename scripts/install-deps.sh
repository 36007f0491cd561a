#!/usr/bin/env bash
# Installs the Debian 12 packages keygate needs to build and test, plus any
# package named on the command line (bench/peers/run.sh passes its servers).
# Does nothing (and needs no network) when they are all installed already.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  librocksdb-dev libabsl-dev libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libboost1.81-dev
  nginx-light
  postgresql libpq-dev
  curl python3
  "$@"
)

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
# Refresh the package lists only if installing from the current ones fails.
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
