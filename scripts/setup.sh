#!/usr/bin/env bash
# Installs what rdrive needs on a fresh Debian 12 + Node 20 machine, then builds.
# Idempotent: each step runs only when its result is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
[ -e /usr/lib/x86_64-linux-gnu/libfuse.so.2 ] || [ -e /lib/x86_64-linux-gnu/libfuse.so.2 ] || ldconfig -p 2>/dev/null | grep -q 'libfuse.so.2' || need_pkgs+=(libfuse2)
command -v fusermount >/dev/null 2>&1 || command -v fusermount3 >/dev/null 2>&1 || need_pkgs+=(fuse3)
for extra in ${RDRIVE_EXTRA_PKGS:-}; do
  dpkg -s "$extra" >/dev/null 2>&1 || need_pkgs+=("$extra")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# fusermount from fuse3 is named fusermount3 on some releases; fuse-native calls `fusermount`.
if ! command -v fusermount >/dev/null 2>&1 && command -v fusermount3 >/dev/null 2>&1; then
  ln -sf "$(command -v fusermount3)" /usr/local/bin/fusermount
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
bash scripts/patch-fuse-native.sh

if [ ! -f dist/.built ] || [ -n "$(find bench cli common server mount test types tsconfig.json -newer dist/.built -print -quit 2>/dev/null)" ]; then
  echo "setup: building (tsc)" >&2
  npx --no-install tsc -p tsconfig.json
  touch dist/.built
fi
