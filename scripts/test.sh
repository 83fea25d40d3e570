#!/usr/bin/env bash
# The one command that runs every Deckcast test on a fresh Debian 12 machine (as root):
#   ./scripts/test.sh
# It installs the dependencies, builds (or reuses) the OBS chroot, then runs: rustfmt check, clippy
# (-D warnings), the bindings check, and cargo-nextest over the whole workspace with both tiers:
# fast unit/integration tests and the end-to-end tier that drives a real OBS, nginx-rtmp and ffprobe.
#
# Env: DECKCAST_OBS_SUITE=sid   run everything against Debian sid's OBS 32.x instead of trixie's 30.2.3
#      DECKCAST_CACHE=DIR       where the OBS chroots live (default /var/cache/deckcast)
#      CARGO_TARGET_DIR         as usual (CI points it at a cache)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo; echo "=== $* ($(date +%T))"; }

step "dependencies"
scripts/deps.sh

step "OBS runtime (${DECKCAST_OBS_SUITE:-trixie} chroot)"
tests/rig/obs-chroot.sh ensure
# The bindings are always checked against trixie's libobs 30.2.3 headers, whatever suite runs the tests.
[ "${DECKCAST_OBS_SUITE:-trixie}" = trixie ] || DECKCAST_OBS_SUITE=trixie tests/rig/obs-chroot.sh ensure

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "bindings are current"
obs-plugin/sys/regen.sh

step "build"
cargo build --workspace --locked

step "tests (unit + e2e)"
cargo nextest run --workspace --locked --profile ci --run-ignored all
