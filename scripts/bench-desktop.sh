#!/usr/bin/env bash
# File-manager benchmark (bench/file-manager.ts): pcmanfm under Xvfb shows a folder of 200 files
# on local disk, rdrive and sshfs. Options: --rounds N (5), --files N (200), --quiet MS (2000),
# --only local,rdrive,sshfs, --debug (rdrive's FUSE ops per run), --read-lease MS (the server's;
# 0 for none). Debian packages, each installed only when missing: an X server without a
# screen, the file manager, a window waiter, ImageMagick
# for the pictures, inotify-tools (the completion signal), dbus (the desktop session), sshfs.
set -euo pipefail
cd "$(dirname "$0")/.."
RDRIVE_EXTRA_PKGS="xvfb pcmanfm xdotool imagemagick inotify-tools dbus-daemon sshfs openssh-server" bash scripts/setup.sh
exec node --import tsx bench/file-manager.ts "$@"
