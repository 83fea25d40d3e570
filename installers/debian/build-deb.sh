#!/usr/bin/env bash
# Builds the Debian package deckcast_<version>_<arch>.deb from this checkout:
#   installers/debian/build-deb.sh [OUTPUT_DIR]        (default: target/deb)
# CMake (system layout, prefix /usr, Debian's multiarch libdir) drives the cargo release build and
# stages the files; shared-library dependencies come from dpkg-shlibdeps; the package has no
# maintainer scripts, so installing, upgrading and purging never touch user data.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/target/deb}
build=${DECKCAST_DEB_BUILD_DIR:-$root/target/deb-build}
# Reproducible: file times and the changelog date come from the last commit. Only the packaging
# steps see SOURCE_DATE_EPOCH: in cargo's environment it would change build-script fingerprints
# (libsqlite3-sys) and rebuild the release binaries that test.sh and other layouts share.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
unset SOURCE_DATE_EPOCH
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

rm -rf "$build/stage"
mkdir -p "$build" "$out"
cmake -S "$root/cmake" -B "$build/cmake" -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_INSTALL_LIBDIR="lib/$multiarch" -DDECKCAST_LAYOUT=system \
  -DCARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" >/dev/null
cmake --build "$build/cmake" >&2
DESTDIR="$build/stage" cmake --install "$build/cmake" >/dev/null
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/cmake/CMakeCache.txt")
stage=$build/stage

# Debian documentation: copyright and changelog, no duplicate license text.
doc=$stage/usr/share/doc/deckcast
rm -f "$doc/LICENSE"
install -m 644 "$root/installers/debian/copyright" "$doc/copyright"
printf 'deckcast (%s) unstable; urgency=medium\n\n  * Release %s (see the project history for changes).\n\n -- Deckcast developers <maintainers@deckcast.invalid>  %s\n' \
  "$version" "$version" "$(date -R -d @"$epoch")" \
  | gzip -9n > "$doc/changelog.gz"
gzip -9n "$doc/README.md"
chmod 644 "$doc"/*

# Shared-library dependencies of the plugin and the companion.
mkdir -p "$build/shlibs/debian"
printf 'Source: deckcast\n\nPackage: deckcast\nArchitecture: any\n' > "$build/shlibs/debian/control"
shlibs=$(cd "$build/shlibs" && dpkg-shlibdeps -O \
  "$stage/usr/lib/$multiarch/obs-plugins/deckcast.so" "$stage/usr/bin/deckcast" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
  "$root/installers/debian/control.in" > "$stage/DEBIAN/control"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 755 {} +
find "$stage" -newermt "@$epoch" -exec touch -h -d "@$epoch" {} +
deb="$out/deckcast_${version}_${arch}.deb"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
