#!/usr/bin/env bash
# Provision (or reuse) a Debian chroot with a real OBS for Deckcast's end-to-end tests.
#
#   tests/rig/obs-chroot.sh ensure     -> prints the chroot path on stdout (built once, then reused)
#   tests/rig/obs-chroot.sh path       -> prints the path it would use, without building
#
# Env:
#   DECKCAST_OBS_SUITE   trixie (default: OBS 30.2.3) | sid (OBS 32.x, compatibility run)
#   DECKCAST_CACHE       cache root (default /var/cache/deckcast); the chroot lives under it and is
#                        keyed by suite + package list, so a second run reuses it in about a second
#   DEBIAN_MIRROR        Debian mirror for debootstrap (default: the host's first deb.debian.org-style URI)
#
# Runs as root (debootstrap, chroot, mount). Concurrent callers are serialised with flock.
# The chroot is never left mounted: the rig mounts /proc, /dev, ... in a private mount namespace per
# process (see tests/src/obs.rs), so nothing here needs unmounting.
set -euo pipefail

SUITE=${DECKCAST_OBS_SUITE:-trixie}
CACHE=${DECKCAST_CACHE:-/var/cache/deckcast}
# Packages inside the chroot: OBS (with obs-websocket, x264, rtmp outputs, ffmpeg sources), an X server
# (and xdotool, which clicks the dock as a user would),
# Mesa's software GL, ffmpeg/ffprobe for stream checks, dbus-run-session, a Secret Service keyring
# (gnome-keyring, secret-tool) for stream keys,
# and (trixie) libobs-dev so the bindings in obs-plugin/sys can be checked against the exact headers.
PKGS="obs-studio xvfb xdotool libgl1-mesa-dri ffmpeg dbus-daemon dbus-bin gnome-keyring libsecret-tools"
[ "$SUITE" = trixie ] && PKGS="$PKGS libobs-dev"
KEY=$(printf 'v1|%s|%s' "$SUITE" "$PKGS" | sha256sum | cut -c1-12)
ROOT=$CACHE/chroot/$SUITE-$KEY
STAMP=$ROOT/.deckcast-ready

log() { echo "[obs-chroot $(date +%T)] $*" >&2; }

case ${1:-ensure} in
  path) echo "$ROOT"; exit 0 ;;
  ensure) ;;
  *) echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac

if [ -e "$STAMP" ]; then echo "$ROOT"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "obs-chroot: building the OBS chroot needs root" >&2; exit 1; }

mkdir -p "$CACHE/chroot"
exec 9>"$CACHE/chroot/.lock"
flock 9
if [ -e "$STAMP" ]; then echo "$ROOT"; exit 0; fi   # built by a concurrent caller while we waited

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  DEBIAN_MIRROR=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | head -n1 | grep -oE 'https?://[^ ]+' || true)
  DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
for tool in debootstrap unshare; do
  command -v "$tool" >/dev/null || { echo "obs-chroot: '$tool' is missing (apt-get install debootstrap util-linux)" >&2; exit 1; }
done

log "building $SUITE chroot in $ROOT from $DEBIAN_MIRROR (one-time, about 2 minutes)"
rm -rf "$ROOT" "$ROOT.tmp"
debootstrap --variant=minbase "$SUITE" "$ROOT.tmp" "$DEBIAN_MIRROR" >"$CACHE/chroot/$SUITE-debootstrap.log" 2>&1 \
  || { tail -n 30 "$CACHE/chroot/$SUITE-debootstrap.log" >&2; exit 1; }
# sid's Release files carry Valid-Until; a lagging mirror would make apt refuse them. No-op on trixie.
echo 'Acquire::Check-Valid-Until "false";' >"$ROOT.tmp/etc/apt/apt.conf.d/99no-check-valid-until"
printf '#!/bin/sh\nexit 101\n' >"$ROOT.tmp/usr/sbin/policy-rc.d"; chmod +x "$ROOT.tmp/usr/sbin/policy-rc.d"
cp -L /etc/resolv.conf "$ROOT.tmp/etc/resolv.conf" 2>/dev/null || true
log "installing: $PKGS"
# A private mount namespace: /proc and /dev exist only while apt runs and vanish with it.
unshare -m --propagation private sh -ec '
  R=$1; shift
  mount -t proc proc "$R/proc"; mount --bind /dev "$R/dev"; mount --bind /dev/pts "$R/dev/pts"
  chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get -q update
  chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  chroot "$R" apt-get clean
' sh "$ROOT.tmp" $PKGS >"$CACHE/chroot/$SUITE-apt.log" 2>&1 \
  || { tail -n 40 "$CACHE/chroot/$SUITE-apt.log" >&2; exit 1; }
head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$ROOT.tmp/etc/machine-id"
mv "$ROOT.tmp" "$ROOT"
log "$(chroot "$ROOT" dpkg-query -W -f='obs-studio ${Version}' obs-studio) ready"
touch "$STAMP"
# Older chroots of this suite (other package lists) are now unused: free their space.
for old in "$CACHE/chroot/$SUITE"-*; do
  [ -d "$old" ] && [ "$old" != "$ROOT" ] && [ "${old%.tmp}" = "$old" ] && rm -rf --one-file-system "$old"
done
echo "$ROOT"
