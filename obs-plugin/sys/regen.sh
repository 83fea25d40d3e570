#!/usr/bin/env bash
# Check (default) or rewrite (--write) obs-plugin/sys/src/bindings.rs against the libobs 30.2.3 headers.
# The headers come from the test rig's Debian trixie chroot (tests/rig/obs-chroot.sh builds it once).
# Needs libclang (apt-get install libclang-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
root=${DECKCAST_OBS_SYSROOT:-$(DECKCAST_OBS_SUITE=trixie "$top/tests/rig/obs-chroot.sh" ensure)}
write=0; [ "${1:-}" = --write ] && write=1
cd "$top"
DECKCAST_OBS_SYSROOT=$root DECKCAST_BINDINGS_WRITE=$write \
  cargo check -q -p deckcast-obs-sys --features regen-bindings
if [ "$write" = 1 ]; then echo "bindings.rs regenerated from $root"; else echo "bindings.rs is current"; fi
