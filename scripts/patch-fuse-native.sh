#!/usr/bin/env bash
# fuse-native 2.2.6 passes atime in both slots of utimens (fuse-native.c), so `touch -m`,
# `rsync -t` and `tar x` could never set a file's mtime. Fix the one line and rebuild the addon
# from the package's own sources (node-gyp-build then loads build/Release before the prebuild).
set -euo pipefail
cd "$(dirname "$0")/../node_modules/fuse-native"
if grep -q 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)' fuse-native.c; then
  sed -i 's/FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)/FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)/' fuse-native.c
  rm -rf build
fi
if [ ! -f build/Release/fuse.node ]; then
  echo "setup: rebuilding fuse-native with the utimens fix" >&2
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  args=(rebuild)
  [ -f /usr/include/node/node_api.h ] && args+=(--nodedir=/usr)
  if [ -f "$gyp" ]; then node "$gyp" "${args[@]}" >/dev/null; else npx --yes node-gyp "${args[@]}" >/dev/null; fi
fi
