#!/usr/bin/env bash
# Install the Debian packages named on the command line whose program is missing.
#
#   scripts/ensure-system-packages.sh chromium postgresql redis-server
#
# A package counts as present when its program is found (see has_package); only the missing ones
# are installed, with one `apt-get update` first. Uses sudo only when not root and sudo exists.
set -euo pipefail

has_package() {
    case "$1" in
        chromium) command -v chromium >/dev/null 2>&1 ;;
        # The server binaries live outside PATH on Debian; the client package alone is not enough.
        postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ;;
        redis-server) command -v redis-server >/dev/null 2>&1 ;;
        *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
    esac
}

missing=()
for pkg in "$@"; do
    if ! has_package "$pkg"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "System packages missing: ${missing[*]}" >&2

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "error: cannot install ${missing[*]}: not root and sudo is not available." >&2
        echo "       Install them yourself, e.g.: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: cannot install ${missing[*]}: apt-get not found (this set-up expects Debian/Ubuntu)." >&2
    exit 1
fi

if ! "${as_root[@]}" apt-get update -q \
    || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "error: apt-get could not install: ${missing[*]}" >&2
    exit 1
fi

for pkg in "${missing[@]}"; do
    if ! has_package "$pkg"; then
        echo "error: package $pkg installed but its program is still not found." >&2
        exit 1
    fi
done
echo "Installed: ${missing[*]}" >&2
