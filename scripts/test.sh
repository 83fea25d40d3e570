#!/usr/bin/env bash
# The one command that runs every Deckcast test on a fresh Debian 12 machine (as root):
#   ./scripts/test.sh
# It installs the dependencies, builds (or reuses) the OBS chroots, then runs: rustfmt check, clippy
# (-D warnings), the bindings check, one debug and one release build, the fast unit/integration tier
# once, and the end-to-end tier (real OBS, nginx-rtmp, ffprobe, keyring, Chromium, Prometheus) once
# per OBS suite: Debian trixie's OBS 30.2.3 and Debian sid's OBS 32.x.
#
# Env: DECKCAST_OBS_SUITE=sid       run the end-to-end tier against one suite only (trixie | sid)
#      DECKCAST_OBS_SUITES="a b"    the suites to run it against (default: "trixie sid")
#      DECKCAST_CACHE=DIR           where the OBS chroots live (default /var/cache/deckcast)
#      CARGO_TARGET_DIR             as usual (CI points it at a cache)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo; echo "=== $* ($(date +%T))"; }
suites=${DECKCAST_OBS_SUITE:-${DECKCAST_OBS_SUITES:-trixie sid}}
started=$(date +%s)

step "dependencies"
scripts/deps.sh

# The bindings are always checked against trixie's libobs 30.2.3 headers, so trixie is always built.
for suite in $(printf '%s\n' trixie $suites | awk '!seen[$0]++'); do
  step "OBS runtime ($suite chroot)"
  DECKCAST_OBS_SUITE=$suite tests/rig/obs-chroot.sh ensure
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "bindings are current"
obs-plugin/sys/regen.sh

step "build (debug, and release once for the packaging tests)"
cargo build --workspace --locked
cargo build --release --locked -p deckcast-obs -p deckcast-companion

first=yes
for suite in $suites; do
  if [ $first = yes ]; then
    step "tests: unit + e2e on OBS $suite"
    DECKCAST_OBS_SUITE=$suite cargo nextest run --workspace --locked --profile ci --run-ignored all
    first=no
  else
    step "tests: e2e on OBS $suite"
    DECKCAST_OBS_SUITE=$suite cargo nextest run --workspace --locked --profile ci --run-ignored only
  fi
done
step "all tests passed in $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"
