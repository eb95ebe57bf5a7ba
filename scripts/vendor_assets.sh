#!/usr/bin/env bash
# Fetch the browser assets the pages use and copy them into dailypapers/web/static/vendor/.
#
# No CDN at run time: KaTeX (css, js, auto-render, woff2 fonts), htmx, and the API docs pages' Swagger UI
# (swagger-ui-dist) and ReDoc are vendored from their npm packages, pinned by version and checked against
# the registry's sha512 integrity. axe-core, which only the accessibility tests use, goes to
# tests/support/axe/ (never served by the site). Re-runnable: it replaces static/vendor/ and
# tests/support/axe/ as a whole. Needs npm (the registry only), tar and sha512sum.
set -euo pipefail

KATEX_VERSION=0.19.1
KATEX_INTEGRITY="sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA=="
HTMX_VERSION=2.0.11
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="
SWAGGER_VERSION=5.36.0
SWAGGER_INTEGRITY="sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A=="
# ReDoc 2, the line FastAPI's docs page is written for (ReDoc 3 reports usage to redocly.com unless told not to)
REDOC_VERSION=2.5.4
REDOC_INTEGRITY="sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ=="
AXE_VERSION=4.14.1
AXE_INTEGRITY="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/dailypapers/web/static/vendor"
AXE_DEST="$ROOT/tests/support/axe"
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
fetch swagger-ui-dist "$SWAGGER_VERSION" "$SWAGGER_INTEGRITY"
fetch redoc "$REDOC_VERSION" "$REDOC_INTEGRITY"
fetch axe-core "$AXE_VERSION" "$AXE_INTEGRITY"

rm -rf "$DEST"
mkdir -p "$DEST/katex/fonts" "$DEST/htmx" "$DEST/swagger-ui" "$DEST/redoc"
K="$WORK/katex/package"
cp "$K/dist/katex.min.css" "$K/dist/katex.min.js" "$K/dist/contrib/auto-render.min.js" "$DEST/katex/"
cp "$K"/dist/fonts/*.woff2 "$DEST/katex/fonts/"
cp "$K/LICENSE" "$DEST/katex/LICENSE"
H="$WORK/htmx.org/package"
cp "$H/dist/htmx.min.js" "$DEST/htmx/"
cp "$H/LICENSE" "$DEST/htmx/LICENSE"
S="$WORK/swagger-ui-dist/package"
cp "$S/swagger-ui-bundle.js" "$S/swagger-ui-bundle.js.LICENSE.txt" "$S/swagger-ui.css" "$DEST/swagger-ui/"
cp "$S/LICENSE" "$S/NOTICE" "$DEST/swagger-ui/"
R="$WORK/redoc/package"
cp "$R/bundles/redoc.standalone.js" "$R/bundles/redoc.standalone.js.LICENSE.txt" "$DEST/redoc/"
cp "$R/LICENSE" "$DEST/redoc/LICENSE"
# The one change to a vendored file: ReDoc's "API docs by Redocly" link shows a logo from cdn.redoc.ly;
# an empty inline SVG takes its place, so the page asks no other host for anything.
REDOC_LOGO="https://cdn.redoc.ly/redoc/logo-mini.svg"
if [[ "$(grep -o "\"$REDOC_LOGO\"" "$DEST/redoc/redoc.standalone.js" | wc -l)" != 1 ]]; then
  echo "redoc@$REDOC_VERSION: expected its logo URL exactly once" >&2
  exit 1
fi
sed -i "s|\"$REDOC_LOGO\"|\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E\"|" \
  "$DEST/redoc/redoc.standalone.js"

rm -rf "$AXE_DEST"
mkdir -p "$AXE_DEST"
A="$WORK/axe-core/package"
cp "$A/axe.min.js" "$A/LICENSE" "$A/LICENSE-3RD-PARTY.txt" "$AXE_DEST/"
cat > "$AXE_DEST/README.md" <<MD
# axe-core, for the accessibility tests only

axe-core $AXE_VERSION (npm \`axe-core\`, MPL-2.0: LICENSE, LICENSE-3RD-PARTY.txt), fetched by
\`scripts/vendor_assets.sh\` from the npm registry (version pinned, sha512 checked); do not edit by hand,
rerun the script. \`tests/test_browser_a11y.py\` injects axe.min.js into the pages it audits; the site
never serves it.
MD

cat > "$DEST/README.md" <<MD
# Vendored browser assets

Fetched by \`scripts/vendor_assets.sh\` from the npm registry (versions pinned, sha512 checked); do not
edit by hand, rerun the script.

| package | version | files | licence |
|---|---|---|---|
| katex | $KATEX_VERSION | katex.min.css, katex.min.js, auto-render.min.js, fonts/*.woff2 | MIT (katex/LICENSE) |
| htmx.org | $HTMX_VERSION | htmx.min.js | 0BSD (htmx/LICENSE) |
| swagger-ui-dist | $SWAGGER_VERSION | swagger-ui-bundle.js, swagger-ui.css (the /docs page) | Apache-2.0 (swagger-ui/LICENSE, NOTICE; bundled: swagger-ui-bundle.js.LICENSE.txt) |
| redoc | $REDOC_VERSION | redoc.standalone.js (the /redoc page; its cdn.redoc.ly logo replaced by an empty inline SVG) | MIT (redoc/LICENSE; bundled: redoc.standalone.js.LICENSE.txt) |

Only the woff2 fonts are kept: every browser that runs KaTeX reads woff2, the first format the css
lists, so the woff and ttf fallbacks are never requested.

The API docs pages start Swagger UI from \`static/docs/swagger-init.js\` (ours, not vendored) and ReDoc
without Google fonts: neither page loads anything from another host.

axe-core, used by the accessibility tests only, is fetched by the same script into tests/support/axe/.
MD

echo "vendored into $DEST: $(du -sh "$DEST" | cut -f1); axe-core into $AXE_DEST: $(du -sh "$AXE_DEST" | cut -f1)"
