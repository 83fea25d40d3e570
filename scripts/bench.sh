#!/usr/bin/env bash
# Benchmarks (one command): multistream CPU per scenario, measured against a real OBS in one run.
#   ./scripts/bench.sh [all|targets|dsp|visualizer] [--seconds N]
# Prints a Markdown table plus the machine and date; record it in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh >/dev/null
# Reference tempo tracker for the dsp benchmark (Debian's aubio command line tools).
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends aubio-tools >/dev/null
tests/rig/obs-chroot.sh ensure >/dev/null
cargo build --release --locked -p deckcast-obs -p deckcast-companion -p deckcast-tests --bin deckcast-bench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; OBS runtime: ${DECKCAST_OBS_SUITE:-trixie}; date: $(date -u +%F)"
exec "${CARGO_TARGET_DIR:-target}/release/deckcast-bench" "$@"
