#!/usr/bin/env bash
# Benchmark: the same workloads on local disk, an rdrive mount and sshfs over a loopback sshd,
# the null FUSE floor (fuse-native, and the libfuse 3 low-level prototype), in interleaved
# rounds on this machine. Options: --rounds N (3), --size MiB (256), --files N (1000), --quick
# (one short round), --only local,rdrive,... (see bench/run.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
RDRIVE_EXTRA_PKGS="sshfs openssh-server rsync" bash scripts/setup.sh
# The libfuse 3 low-level prototype (the null-ll row); without a compiler the row is left out.
bash scripts/build-lowlevel.sh || echo "bench: the libfuse 3 prototype did not build; no null-ll row" >&2
exec node --import tsx bench/run.ts "$@"
