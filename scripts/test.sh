#!/usr/bin/env bash
# The whole test suite: setup, type check (the build), then node's test runner over test/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Each test file runs in its own process; every test is bounded so a stuck mount cannot hang CI.
files=$(find test -name '*.test.ts' | sort)
# shellcheck disable=SC2086
exec node --import tsx --test --test-concurrency=2 --test-timeout=180000 $files
