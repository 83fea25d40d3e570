#!/usr/bin/env bash
# Installs what building, running and testing Deckcast needs on Debian 12 (run as root).
# Idempotent: a second run only refreshes apt's lists and finds everything installed.
#   scripts/deps.sh            build + test + run dependencies
# Rust itself (cargo, rustc, rustfmt, clippy) must already be installed (rustup).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "deps: run as root (apt-get, debootstrap, chroot)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "deps: cargo not found; install Rust with rustup first" >&2; exit 1; }

PKGS=(
  pkg-config gcc libc6-dev binutils # Rust crates that build C; nm/readelf for the plugin symbol checks
  debootstrap util-linux            # the OBS chroot (tests/rig/obs-chroot.sh) and private mount namespaces
  nginx-light libnginx-mod-rtmp     # local RTMP server for stream tests
  libclang-dev                      # checking obs-plugin/sys/src/bindings.rs against the libobs headers
  g++ qt6-base-dev                  # the plugin's native dock (C++/Qt shim, obs-plugin/ui)
  iproute2 procps                   # ss, kill
  libdbus-1-dev                     # the keyring store (libdbus, blocking: no thread in OBS)
  tzdata                            # floating calendar times in a chosen local zone (TZ=…) in tests
  curl openssl zbar-tools librsvg2-bin  # serve --lan: a phone's HTTPS client, the certificate, QR decoding
  dbus-daemon dbus-bin gnome-keyring libsecret-tools  # the companion's keyring (Secret Service) in tests
  chromium                          # the dashboard in a real browser (tests)
  prometheus                        # scraping the companion's /metrics, promtool on the shipped rules (tests)
  xvfb xdotool dunst                # an X server, clicks on the dock, a real freedesktop notification daemon
  cmake dpkg-dev lintian systemd shellcheck man-db  # packaging: CMake layouts, the .deb and its checks (man renders the man pages)
  python3 python3-venv              # the test webhook receiver; the calendar oracle's virtualenv
  aubio-tools python3-aubio         # `aubio tempo` (the `aubio` command is in aubio-tools), the reference beside `deckcast analyze --eval`
  fluidsynth fluid-soundfont-gm     # renders the tempo evaluation corpus (tests/rig/tempo-corpus)
  gdb                               # backtraces of an OBS core dump in e2e failure reports
  libasound2-dev alsa-utils         # deckcast listen (cpal on ALSA) and its file-plugin test device
  cuetools                          # cueprint/cuebreakpoints: a real CUE parser for the tracklist export test
  ffmpeg                            # the companion remuxes chapters into MKV recordings and exports audio (optional in use)
)
echo "[deps] apt-get update"
apt-get update -q >/dev/null
echo "[deps] apt-get install ${PKGS[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PKGS[@]}" >/dev/null
if ! command -v cargo-nextest >/dev/null; then
  echo "[deps] cargo install cargo-nextest"
  cargo install --locked cargo-nextest
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The calendar corpus test (tests/tests/calendar_corpus.rs): recurring-ical-events as the oracle,
# in a virtualenv, and the test calendars of its and python-icalendar's PyPI source distributions.
# Pinned, so the reference does not move under the test.
oracle=${DECKCAST_CACHE:-/var/cache/deckcast}/calendar-oracle
pins="recurring-ical-events==3.8.2 icalendar==7.3.2 x-wr-timezone==2.0.1 python-dateutil==2.9.0.post0 tzdata==2026.6 six==1.17.0 typing_extensions==4.16.0 click==8.5.1"
if [ "$(cat "$oracle/pins" 2>/dev/null)" != "$pins" ]; then
  echo "[deps] calendar oracle ($oracle)"
  rm -rf "$oracle"
  mkdir -p "$oracle/sdist" "$oracle/corpus"
  python3 -m venv "$oracle/venv"
  # shellcheck disable=SC2086 # the pins are words
  "$oracle/venv/bin/pip" install -q --disable-pip-version-check $pins
  "$oracle/venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$oracle/sdist" recurring-ical-events==3.8.2 icalendar==7.3.2
  tar -xzf "$oracle"/sdist/recurring_ical_events-3.8.2.tar.gz -C "$oracle/sdist"
  tar -xzf "$oracle"/sdist/icalendar-7.3.2.tar.gz -C "$oracle/sdist"
  ln -s ../sdist/recurring_ical_events-3.8.2/recurring_ical_events/test/calendars "$oracle/corpus/recurring-ical-events"
  ln -s ../sdist/icalendar-7.3.2/src/icalendar/tests/calendars "$oracle/corpus/icalendar"
  echo "$pins" > "$oracle/pins"
fi

# The tempo evaluation corpus (tests/rig/tempo-corpus/generate.py: MIDI files rendered by
# FluidSynth, their declared tempo the truth) for tests/tests/tempo_corpus.rs and
# `scripts/bench.sh tempo`; made again only when the generator changes.
corpus=${DECKCAST_CACHE:-/var/cache/deckcast}/tempo-corpus
generator="$(cd "$(dirname "$0")/.." && pwd)/tests/rig/tempo-corpus/generate.py"
corpus_stamp=$(sha256sum "$generator" | cut -c1-16)
if [ "$(cat "$corpus/stamp" 2>/dev/null)" != "$corpus_stamp" ]; then
  echo "[deps] tempo corpus ($corpus)"
  rm -rf "$corpus"
  python3 "$generator" "$corpus" >/dev/null
  echo "$corpus_stamp" > "$corpus/stamp"
fi

# The OpenAPI 3.1 check of the API documents (tests/src/openapi.rs): openapi-spec-validator,
# pinned with what it needs, in its own virtualenv.
oasv=${DECKCAST_CACHE:-/var/cache/deckcast}/openapi-validator
oasv_pins="openapi-spec-validator==0.9.0 openapi-schema-validator==0.9.0 jsonschema==4.26.0 jsonschema-path==0.5.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0 pathable==0.6.0 PyYAML==6.0.4 lazy-object-proxy==1.13.0 rfc3339-validator==0.1.4 six==1.17.0 pydantic==2.14.4 pydantic-settings==2.16.3 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0 python-dotenv==1.2.4"
if [ "$(cat "$oasv/pins" 2>/dev/null)" != "$oasv_pins" ]; then
  echo "[deps] OpenAPI validator ($oasv)"
  rm -rf "$oasv"
  python3 -m venv "$oasv/venv"
  # shellcheck disable=SC2086 # the pins are words
  "$oasv/venv/bin/pip" install -q --disable-pip-version-check $oasv_pins
  echo "$oasv_pins" > "$oasv/pins"
fi

# The upload test's site (tests/rig/tus-site): the tus project's own Node.js server, the versions
# pinned in its package.json, from the npm registry with the machine's Node.js (Debian's nodejs
# and npm where the machine has none).
if ! command -v npm >/dev/null; then
  echo "[deps] apt-get install nodejs npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
fi
tus=${DECKCAST_CACHE:-/var/cache/deckcast}/tus-site
here=$(cd "$(dirname "$0")/.." && pwd)
if ! cmp -s "$here/tests/rig/tus-site/package.json" "$tus/package.json" || [ ! -d "$tus/node_modules/@tus/server" ]; then
  echo "[deps] tus server for the upload test ($tus)"
  rm -rf "$tus"
  mkdir -p "$tus"
  cp "$here/tests/rig/tus-site/package.json" "$tus/"
  (cd "$tus" && npm install -q --no-audit --no-fund --omit=dev >/dev/null)
fi
