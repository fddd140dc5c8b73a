#!/usr/bin/env bash
# The whole test suite: setup, type check (the build), then node's test runner over test/.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tools the tests drive besides FUSE (each installed only when missing): rsync and git on the
# mount, openssl for the TLS test's certificate, autoconf/automake to build pjdfstest (the
# POSIX conformance run in test/mount/pjdfstest.test.ts), redis-server and haproxy for the
# scale-out tests (state shared by several servers behind a load balancer), systemd for
# systemd-analyze verify of the unit files in packaging/systemd, gio, gvfsd-trash and
# dbus-run-session for the desktop trash test (test/mount/trash.test.ts).
RDRIVE_EXTRA_PKGS="rsync git openssl autoconf automake redis-server haproxy systemd libglib2.0-bin gvfs-daemons dbus-daemon" bash scripts/setup.sh
# Lint (Biome, recommended rules, no formatting) and dead code (knip: unused files, exports,
# dependencies) come first: both take seconds, so a finding fails fast, before the long tests.
npx --no-install biome lint .
npx --no-install knip
# Each test file runs in its own process; every test is bounded so a stuck mount cannot hang CI.
files=$(find test -name '*.test.ts' | sort)
# shellcheck disable=SC2086
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 $files
