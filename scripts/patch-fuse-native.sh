#!/usr/bin/env bash
# fuse-native 2.2.6 loses mtimes in utimens and does not tell who calls (see patch-fuse-native.py): patch its C source and
# rebuild the addon from the package's own sources (node-gyp-build then loads build/Release
# before the prebuild).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/node_modules/fuse-native"
if [ "$(python3 "$root/scripts/patch-fuse-native.py" fuse-native.c)" = "patched" ]; then
  rm -rf build
fi
if [ ! -f build/Release/fuse.node ]; then
  echo "setup: rebuilding fuse-native with the utimens fix" >&2
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  args=(rebuild)
  if [ -f /usr/include/node/node_api.h ]; then args+=(--nodedir=/usr); fi
  if [ -f "$gyp" ]; then node "$gyp" "${args[@]}" >/tmp/rdrive-node-gyp.log 2>&1; else npx --yes node-gyp "${args[@]}" >/tmp/rdrive-node-gyp.log 2>&1; fi \
    || { echo "setup: rebuilding fuse-native failed, see /tmp/rdrive-node-gyp.log" >&2; exit 1; }
fi
