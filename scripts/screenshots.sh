#!/usr/bin/env bash
# Takes the README's pictures again from the running product (docs/images/*.png): OBS with the
# plugin, the companion and the dashboard in Chromium, through the e2e test that also checks the
# dashboard on a phone. Commit the changed files afterwards.
#   ./scripts/screenshots.sh            # OBS 30.2.3 (trixie); DECKCAST_OBS_SUITE=sid for 32.x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh >/dev/null
tests/rig/obs-chroot.sh ensure >/dev/null
DECKCAST_DOCS_IMAGES=1 cargo nextest run --locked -p deckcast-tests --run-ignored only \
  -E 'test(the_readme_pictures_come_from_the_product_and_the_dashboard_works_on_a_phone)'
ls -l docs/images/
