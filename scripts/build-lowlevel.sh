#!/usr/bin/env bash
# Builds the libfuse 3 low-level prototype the benchmark's "null-ll" floor runs on
# (bench/lowlevel/fuse-lowlevel.c). Needs gcc and libfuse3-dev (installed when missing) and the
# N-API headers (the node-api-headers package). Exits non-zero without a build: the benchmark
# then leaves the row out.
set -euo pipefail
cd "$(dirname "$0")/.."
src=bench/lowlevel/fuse-lowlevel.c
out=bench/lowlevel/build/fuse-lowlevel.node
[ -f "$out" ] && [ "$out" -nt "$src" ] && exit 0
RDRIVE_EXTRA_PKGS="gcc libc6-dev pkg-config libfuse3-dev" bash scripts/setup.sh
mkdir -p "$(dirname "$out")"
gcc -O2 -shared -fPIC -Wall -Werror -I node_modules/node-api-headers/include $(pkg-config --cflags fuse3) "$src" -o "$out" $(pkg-config --libs fuse3)
