#!/bin/sh
# Removes what install-user.sh installed for the current user, and nothing else: the files listed in
# the install manifest, then the directories that became empty. The companion's database
# (~/.local/share/deckcast) and its keyring entries are user data and stay; the script says how to
# remove them.
#
#   uninstall-user.sh [--keep-service-running]
set -eu

config=${XDG_CONFIG_HOME:-$HOME/.config}
plugin_dir="$config/obs-studio/plugins/deckcast"
manifest="$plugin_dir/.install-manifest"
stop_service=yes
[ "${1:-}" = "--keep-service-running" ] && stop_service=no

if [ ! -f "$manifest" ]; then
  echo "uninstall-user: no Deckcast user install found ($manifest is missing)" >&2
  exit 1
fi

if [ "$stop_service" = yes ] && command -v systemctl >/dev/null 2>&1 && grep -q '/deckcast.service$' "$manifest"; then
  systemctl --user disable --now deckcast.service >/dev/null 2>&1 || true
fi

# Read the list first: the manifest itself is in it.
list=$(cat "$manifest")
inside() {
  case "$1" in
    "$plugin_dir"|"$plugin_dir"/*|"$HOME/.local/bin/deckcast"|"$config/systemd/user/deckcast.service") return 0 ;;
    "$config"/*|"$HOME"/*) [ "${2:-}" = dir ] && return 0 ;;
  esac
  return 1
}
printf '%s\n' "$list" | while IFS= read -r f; do
  case "$f" in
    ""|dir:*) ;;
    *) if inside "$f"; then rm -f "$f"; else echo "uninstall-user: skipping $f (outside Deckcast's install locations)" >&2; fi ;;
  esac
done
# Directories the install created, deepest first, if they are empty now (anything the user put
# there since stays, and so does its directory).
printf '%s\n' "$list" | sed -n 's/^dir://p' | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2- |
  while IFS= read -r d; do
    if inside "$d" dir && [ -d "$d" ]; then rmdir "$d" 2>/dev/null || true; fi
  done

echo "Deckcast removed. Kept (your data): ~/.local/share/deckcast (history database) and the keyring"
echo "entries of 'deckcast-companion' and 'deckcast' (stream keys); delete them yourself if you want."
