#!/usr/bin/env bash
# Install the pinned front-end packages and copy only the files the pages load into static/vendor/.
#
# static/vendor/ is git-ignored and rebuilt from package-lock.json; nothing here downloads browsers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm not found; install Node.js 20+ (with npm) to build the front-end assets." >&2
    exit 1
fi

npm ci --no-audit --no-fund --loglevel=error

src=node_modules
out=static/vendor
# Build into a fresh directory and swap it in, so a failed copy never leaves a half-filled vendor/.
mkdir -p static
tmp=$(mktemp -d static/.vendor.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/bootstrap" "$tmp/bootstrap-icons"
cp "$src/htmx.org/dist/htmx.min.js" "$tmp/htmx.min.js"
cp "$src/bootstrap/dist/css/bootstrap.min.css" "$tmp/bootstrap/bootstrap.min.css"
cp "$src/bootstrap/dist/js/bootstrap.bundle.min.js" "$tmp/bootstrap/bootstrap.bundle.min.js"
# The icon CSS loads its fonts from "fonts/…" relative to itself, so the folder goes beside it.
cp "$src/bootstrap-icons/font/bootstrap-icons.min.css" "$tmp/bootstrap-icons/bootstrap-icons.min.css"
cp -R "$src/bootstrap-icons/font/fonts" "$tmp/bootstrap-icons/fonts"
cp "$src/chart.js/dist/chart.umd.min.js" "$tmp/chart.umd.min.js"

# Record what was built, so a page or a bug report can tell which versions are being served.
node -e '
const lock = require("./package-lock.json").packages;
const names = ["htmx.org", "bootstrap", "bootstrap-icons", "chart.js"];
console.log(JSON.stringify(Object.fromEntries(names.map(n => [n, lock["node_modules/" + n].version])), null, 2));
' >"$tmp/versions.json"

rm -rf "$out"
mv "$tmp" "$out"
chmod 755 "$out"
trap - EXIT
echo "Front-end assets copied to $out/"
