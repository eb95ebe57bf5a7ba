#!/usr/bin/env bash
# Fetch the browser assets the pages use and copy them into dailypapers/web/static/vendor/.
#
# No CDN at run time: KaTeX (css, js, auto-render, woff2 fonts) and htmx are vendored from their npm
# packages, pinned by version and checked against the registry's sha512 integrity. Re-runnable: it
# replaces static/vendor/ as a whole. Needs npm (the registry only), tar and sha512sum.
set -euo pipefail

KATEX_VERSION=0.19.1
KATEX_INTEGRITY="sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA=="
HTMX_VERSION=2.0.11
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/dailypapers/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fetch() {  # fetch NAME VERSION INTEGRITY -> unpacks into $WORK/NAME/package
  local name="$1" version="$2" integrity="$3" tarball actual
  (cd "$WORK" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$WORK/$name-$version.tgz"
  actual="sha512-$(sha512sum "$tarball" | cut -d' ' -f1 | xxd -r -p | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "integrity mismatch for $name@$version: $actual" >&2
    exit 1
  fi
  mkdir -p "$WORK/$name"
  tar -xzf "$tarball" -C "$WORK/$name"
}

fetch katex "$KATEX_VERSION" "$KATEX_INTEGRITY"
fetch htmx.org "$HTMX_VERSION" "$HTMX_INTEGRITY"

rm -rf "$DEST"
mkdir -p "$DEST/katex/fonts" "$DEST/htmx"
K="$WORK/katex/package"
cp "$K/dist/katex.min.css" "$K/dist/katex.min.js" "$K/dist/contrib/auto-render.min.js" "$DEST/katex/"
cp "$K"/dist/fonts/*.woff2 "$DEST/katex/fonts/"
cp "$K/LICENSE" "$DEST/katex/LICENSE"
H="$WORK/htmx.org/package"
cp "$H/dist/htmx.min.js" "$DEST/htmx/"
cp "$H/LICENSE" "$DEST/htmx/LICENSE"

cat > "$DEST/README.md" <<MD
# Vendored browser assets

Fetched by \`scripts/vendor_assets.sh\` from the npm registry (versions pinned, sha512 checked); do not
edit by hand, rerun the script.

| package | version | files | licence |
|---|---|---|---|
| katex | $KATEX_VERSION | katex.min.css, katex.min.js, auto-render.min.js, fonts/*.woff2 | MIT (katex/LICENSE) |
| htmx.org | $HTMX_VERSION | htmx.min.js | 0BSD (htmx/LICENSE) |

Only the woff2 fonts are kept: every browser that runs KaTeX reads woff2, the first format the css
lists, so the woff and ttf fallbacks are never requested.
MD

echo "vendored into $DEST: $(du -sh "$DEST" | cut -f1)"
