#!/usr/bin/env bash
# Benchmark: the same workloads on local disk, an rdrive mount and sshfs over a loopback sshd,
# in one run on this machine. Options: --size MiB (large file, default 512), --files N (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
RDRIVE_EXTRA_PKGS="sshfs openssh-server rsync" bash scripts/setup.sh
exec node --import tsx bench/run.ts "$@"
