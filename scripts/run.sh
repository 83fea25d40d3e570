#!/usr/bin/env bash
# The one command that sets up and runs Deckcast on a fresh Debian 12 machine (as root):
#   ./scripts/run.sh [--home DIR] [--port PORT]
# Installs the dependencies, builds the plugin and the companion (release), starts OBS >= 30.2 (the
# host's, or a cached Debian trixie chroot running headless under Xvfb) with the plugin installed in a
# persistent OBS home, checks it with `deckcast status`, and keeps it running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
tests/rig/obs-chroot.sh ensure >/dev/null
cargo build --release --locked -p deckcast-obs -p deckcast-companion -p deckcast-tests --bin deckcast-lab
exec "${CARGO_TARGET_DIR:-target}/release/deckcast-lab" "$@"
