#!/usr/bin/env bash
# Quick start: the server on its embedded defaults (127.0.0.1:8888, id_passwd.txt,
# server_storage/, logs/) and a mount of a demo user's folder, until Ctrl-C.
#   RDRIVE_USER (default user1), RDRIVE_PASSWORD (default password1), RDRIVE_MOUNTPOINT (default ./mnt)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

user="${RDRIVE_USER:-user1}"
export RDRIVE_PASSWORD="${RDRIVE_PASSWORD:-password1}"
mnt="${RDRIVE_MOUNTPOINT:-$PWD/mnt}"
mkdir -p "$mnt" logs

server_pid=""
server_out=""
cleanup() {
  trap - EXIT INT TERM
  [ -z "$server_out" ] || rm -f "$server_out"
  if mountpoint -q "$mnt" 2>/dev/null; then node bin/rdrive.js unmount "$mnt" || fusermount -uz "$mnt" || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

# The server's first stdout line says where it listens: waiting for it (rather than polling
# the port) cannot mistake another program on 8888 for our server.
server_out="$(mktemp)"
node bin/rdrive-server.js >"$server_out" &
server_pid=$!
ready=""
for _ in $(seq 1 100); do
  if grep -q "listening on" "$server_out"; then ready=1; cat "$server_out" >&2; break; fi
  # If it exited (say, the port is taken), its message is already on screen.
  kill -0 "$server_pid" 2>/dev/null || { echo "rdrive: the server did not start (see above, and logs/server.log)" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ready" ] || { echo "rdrive: the server did not start within 10 s; see logs/server.log" >&2; exit 1; }

echo "rdrive: mounting ${user}'s folder at $mnt (Ctrl-C to unmount and stop)" >&2
node bin/rdrive.js mount http://127.0.0.1:8888 "$mnt" --user "$user" --log-file logs/client.log
