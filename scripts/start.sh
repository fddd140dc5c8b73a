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
cleanup() {
  trap - EXIT INT TERM
  if mountpoint -q "$mnt" 2>/dev/null; then node bin/rdrive.js unmount "$mnt" || fusermount -uz "$mnt" || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

node bin/rdrive-server.js &
server_pid=$!
for _ in $(seq 1 50); do
  if curl -fsS http://127.0.0.1:8888/api/v1/health >/dev/null 2>&1 || node -e "fetch('http://127.0.0.1:8888/api/v1/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "rdrive: the server did not start; see logs/server.log" >&2; exit 1; }
  sleep 0.2
done

echo "rdrive: mounting ${user}'s folder at $mnt (Ctrl-C to unmount and stop)" >&2
node bin/rdrive.js mount http://127.0.0.1:8888 "$mnt" --user "$user"
