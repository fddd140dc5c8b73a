#!/usr/bin/env bash
# Quick start: the server on its embedded defaults (127.0.0.1:8888, id_passwd.txt,
# server_storage/, logs/) and a mount of a demo user's folder, until Ctrl-C.
#   RDRIVE_USER (default user1), RDRIVE_PASSWORD (default password1), RDRIVE_MOUNTPOINT (default ./mnt);
#   the server's RDRIVE_* variables too (RDRIVE_PORT=0 for a free port: the mount follows it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

user="${RDRIVE_USER:-user1}"
export RDRIVE_PASSWORD="${RDRIVE_PASSWORD:-password1}"
mnt="${RDRIVE_MOUNTPOINT:-$PWD/mnt}"
mkdir -p "$mnt" logs
# Another mount there (say, an earlier "npm start" still running) is not ours to stop: this run's
# cleanup unmounted it when its own server then failed on the taken port.
if mountpoint -q "$mnt" 2>/dev/null; then
  echo "rdrive: $mnt is already mounted (another \"npm start\" still running?): stop that one (Ctrl-C there, or \"npx rdrive unmount $mnt\"), or set RDRIVE_MOUNTPOINT to another folder" >&2
  exit 1
fi

server_pid=""
server_out=""
mounting=""
cleanup() {
  trap - EXIT INT TERM
  [ -z "$server_out" ] || rm -f "$server_out"
  if [ -n "$mounting" ] && mountpoint -q "$mnt" 2>/dev/null; then node bin/rdrive.js unmount "$mnt" || fusermount -uz "$mnt" || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

# The server's first stdout line says where it listens: waiting for it (rather than polling
# the port) cannot mistake another program on 8888 for our server, and the mount uses that
# address (RDRIVE_PORT may have moved it).
server_out="$(mktemp)"
node bin/rdrive-server.js >"$server_out" &
server_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^rdrive-server listening on //p' "$server_out")"
  if [ -n "$url" ]; then cat "$server_out" >&2; break; fi
  # If it exited (say, the port is taken), its message is already on screen.
  kill -0 "$server_pid" 2>/dev/null || { echo "rdrive: the server did not start (see above, and logs/server.log); to use another port: RDRIVE_PORT=8889 npm start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "rdrive: the server did not start within 10 s; see logs/server.log" >&2; exit 1; }

echo "rdrive: mounting ${user}'s folder at $mnt (Ctrl-C to unmount and stop)" >&2
mounting=1
node bin/rdrive.js mount "$url" "$mnt" --user "$user" --log-file logs/client.log
