#!/bin/sh
# Installs Deckcast for the current user only (no root): the OBS plugin into OBS's per-user plugin
# directory, the `deckcast` companion into ~/.local/bin and a systemd user unit for `deckcast serve`.
#
#   ./install-user.sh [--force] [--no-service]
#
# Run it from the directory `cmake --install` produced with -DDECKCAST_LAYOUT=user (a release
# tarball has the same layout). It records what it installs in a manifest so uninstall-user.sh
# removes exactly that. It never touches the companion's data (~/.local/share/deckcast) or keyring.
set -eu

src=$(cd "$(dirname "$0")" && pwd)
force=no
service=yes
for arg in "$@"; do
  case "$arg" in
    --force) force=yes ;;
    --no-service) service=no ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-user: unknown option $arg" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" != 0 ] || [ "$force" = yes ] || {
  echo "install-user: this installs for one user; run it as that user, not root (or --force)" >&2
  exit 1
}
[ -f "$src/deckcast/bin/64bit/deckcast.so" ] || {
  echo "install-user: $src/deckcast/bin/64bit/deckcast.so is missing; run this script from the installed user layout" >&2
  exit 1
}

# OBS >= 30.2 (when `obs` is on PATH; Flatpak and other installs cannot be asked).
if command -v obs >/dev/null 2>&1; then
  ver=$(obs --version 2>/dev/null | sed -n 's/.*OBS Studio - \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n1)
  if [ -n "$ver" ]; then
    major=${ver%%.*}
    minor=${ver#*.}
    if [ "$major" -lt 30 ] || { [ "$major" -eq 30 ] && [ "$minor" -lt 2 ]; }; then
      if [ "$force" != yes ]; then
        echo "install-user: OBS $ver is installed; Deckcast needs OBS 30.2 or newer (--force to install anyway)" >&2
        exit 1
      fi
    fi
  fi
fi

config=${XDG_CONFIG_HOME:-$HOME/.config}
plugin_dir="$config/obs-studio/plugins/deckcast"
bin_dir="$HOME/.local/bin"
unit_dir="$config/systemd/user"
manifest="$plugin_dir/.install-manifest"

# Replace an earlier install of the plugin (its manifest lists its files).
if [ -f "$manifest" ]; then
  "$src/uninstall-user.sh" --keep-service-running >/dev/null
fi

tmp_manifest=$(mktemp)
trap 'rm -f "$tmp_manifest"' EXIT
record() { printf '%s\n' "$1" >> "$tmp_manifest"; }
# Creates a directory and records every directory it had to create ("dir:" lines), so the
# uninstaller removes exactly those and leaves directories that existed before alone.
make_dir() {
  missing=""
  d=$1
  while [ ! -d "$d" ]; do
    missing="$d
$missing"
    d=$(dirname "$d")
  done
  mkdir -p "$1"
  printf '%s' "$missing" | while IFS= read -r m; do
    [ -n "$m" ] && record "dir:$m"
  done
  return 0
}

make_dir "$plugin_dir/bin/64bit"
make_dir "$bin_dir"

cp "$src/deckcast/bin/64bit/deckcast.so" "$plugin_dir/bin/64bit/deckcast.so"
record "$plugin_dir/bin/64bit/deckcast.so"
(cd "$src/deckcast" && find data -type f) | while IFS= read -r f; do
  make_dir "$plugin_dir/$(dirname "$f")"
  cp "$src/deckcast/$f" "$plugin_dir/$f"
  record "$plugin_dir/$f"
done
if [ -f "$src/bin/deckcast" ]; then
  cp "$src/bin/deckcast" "$bin_dir/deckcast"
  chmod 755 "$bin_dir/deckcast"
  record "$bin_dir/deckcast"
fi
cp "$src/uninstall-user.sh" "$plugin_dir/uninstall-user.sh"
chmod 755 "$plugin_dir/uninstall-user.sh"
record "$plugin_dir/uninstall-user.sh"
if [ "$service" = yes ] && [ -f "$src/bin/deckcast" ]; then
  make_dir "$unit_dir"
  sed "s|@DECKCAST_EXEC@|$bin_dir/deckcast|" "$src/share/deckcast/deckcast.service.in" > "$unit_dir/deckcast.service"
  record "$unit_dir/deckcast.service"
fi
record "$manifest"
cp "$tmp_manifest" "$manifest"

echo "Deckcast installed for $(id -un):"
echo "  OBS plugin  $plugin_dir"
[ -f "$bin_dir/deckcast" ] && echo "  companion   $bin_dir/deckcast"
[ -f "$unit_dir/deckcast.service" ] && echo "  service     systemctl --user enable --now deckcast   (dashboard: http://127.0.0.1:8750/)"
echo "Restart OBS to load the plugin. Uninstall: $plugin_dir/uninstall-user.sh"
