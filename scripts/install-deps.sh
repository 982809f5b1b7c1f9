#!/usr/bin/env bash
# Installs the Debian 12 packages ipcbench needs to build, test, run and plot. Idempotent: it
# installs only what is missing, and does nothing (not even apt-get update) when all are there.
set -euo pipefail

packages=(
  g++ cmake ninja-build git          # toolchain (CMake 3.25, g++ 12 on Debian 12)
  libbenchmark-dev                   # Google Benchmark 1.7.1: the ipcbench binary
  libgtest-dev                       # GoogleTest: the tests
  libboost-dev                       # Boost.Interprocess (headers): shared-memory transports
  python3 python3-matplotlib         # the report program, run by /usr/bin/python3
  python3-scipy                      # its U test (scipy.stats.mannwhitneyu), and compare.py's
  python3-yaml                       # the test of the CI recipe (.github/workflows)
  libbenchmark-tools                 # Google Benchmark's compare.py: scripts/compare-runs.sh
  procps util-linux                  # ps, ipcs: the leak checks
  pkg-config                         # finds the three libraries below
  liburing-dev                       # io_uring: the io_uring transport
  libzmq3-dev                        # ZeroMQ: the zeromq transport
  libsystemd-dev dbus                # sd-bus and dbus-daemon: the dbus transport
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: every package is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
