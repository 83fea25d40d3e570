#!/bin/sh
# Builds deckcast-<version>-macos.pkg (run on macOS with Xcode command line tools, Rust and CMake):
#   installers/macos/build-pkg.sh [OUTPUT_DIR]
# The package installs OBS's documented macOS layout:
#   /Library/Application Support/obs-studio/plugins/deckcast.plugin   (plugin bundle)
#   /usr/local/bin/deckcast                                             (companion)
# Signing/notarisation: set DECKCAST_SIGN_IDENTITY to a "Developer ID Installer" identity.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/target/pkg}
build="$root/target/pkg-build"
mkdir -p "$out"
rm -rf "$build/stage" "$build/root"

cmake -S "$root/cmake" -B "$build/cmake" -DDECKCAST_LAYOUT=macos
cmake --build "$build/cmake"
cmake --install "$build/cmake" --prefix "$build/stage"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/cmake/CMakeCache.txt")

plugins="$build/root/Library/Application Support/obs-studio/plugins"
mkdir -p "$plugins" "$build/root/usr/local/bin"
cp -R "$build/stage/deckcast.plugin" "$plugins/"
cp "$build/stage/bin/deckcast" "$build/root/usr/local/bin/deckcast"

set -- --root "$build/root" --identifier org.deckcast.pkg --version "$version" --install-location /
if [ -n "${DECKCAST_SIGN_IDENTITY:-}" ]; then
  set -- "$@" --sign "$DECKCAST_SIGN_IDENTITY"
fi
pkgbuild "$@" "$out/deckcast-$version-macos.pkg"
echo "$out/deckcast-$version-macos.pkg"
