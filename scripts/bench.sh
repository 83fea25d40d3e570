#!/usr/bin/env bash
# Benchmarks (one command): multistream CPU per scenario, measured against a real OBS in one run.
#   ./scripts/bench.sh [all|targets|dsp|visualizer] [--seconds N]
#   ./scripts/bench.sh tempo [heldout]   the tempo tracker on the evaluation corpus, beside aubio
#                                        (the held-out split only for a final score, never to tune)
# Prints a Markdown table plus the machine and date; record it in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh >/dev/null
tests/rig/obs-chroot.sh ensure >/dev/null
# Two builds: `--bin deckcast-bench` alone would leave out the companion's `deckcast`.
cargo build --release --locked -p deckcast-obs -p deckcast-companion
cargo build --release --locked -p deckcast-tests --bin deckcast-bench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; OBS runtime: ${DECKCAST_OBS_SUITE:-trixie}; date: $(date -u +%F)"
if [ "${1:-all}" = tempo ] || [ "${1:-all}" = all ]; then
  # The corpus: made by scripts/deps.sh (above) in the cache, when the generator changed.
  corpus=${DECKCAST_CACHE:-/var/cache/deckcast}/tempo-corpus
  stamp=$(cat "$corpus/stamp")
  split=tune
  [ "${1:-}" = tempo ] && [ "${2:-}" = heldout ] && split=heldout
  echo "tempo corpus ($split split, generator $stamp):"
  "${CARGO_TARGET_DIR:-target}/release/deckcast" analyze --eval "$corpus/$split"
  [ "${1:-}" = tempo ] && exit 0
fi
exec "${CARGO_TARGET_DIR:-target}/release/deckcast-bench" "$@"
