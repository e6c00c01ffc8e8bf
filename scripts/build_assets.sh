#!/usr/bin/env bash
# Rebuild Forewarn's vendored front-end assets, reproducibly, from the exact
# versions pinned in scripts/package.json + scripts/package-lock.json.
#
#   bash scripts/build_assets.sh
#
# Writes (and owns) everything under src/forewarn/web/static/vendor/ and the
# axe-core files under tests/browser/assets/.  Needs node + npm and the npm
# registry at build time only: nothing here is fetched by the app at run time.
#
# Steps: npm ci (temp dir, no install scripts) -> stage every file in the temp
# dir -> check pinned versions, vl-convert compatibility and that no vendored
# CSS/JS would make a browser fetch anything external -> swap the staged tree
# into place -> write README.md and versions.json.
#
# Environment knobs:
#   PYTHON=...               interpreter with vl-convert-python (default .venv/bin/python)
#   FOREWARN_SKIP_VL_CHECK=1 skip the vl-convert <-> vega-lite version check
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
VENDOR="$ROOT/src/forewarn/web/static/vendor"
AXE_DIR="$ROOT/tests/browser/assets"
# URL prefix under which the app serves src/forewarn/web/static/ (see README).
STATIC_URL="/static"
GOVUK_ASSETS_URL="$STATIC_URL/vendor/govuk/assets/"

die() { echo "build_assets: ERROR: $*" >&2; exit 1; }
note() { echo "build_assets: $*" >&2; }

command -v node >/dev/null || die "node not found"
command -v npm >/dev/null || die "npm not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/forewarn-assets.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
NM="$WORK/node_modules"
OUT="$WORK/out/vendor"
AXE_OUT="$WORK/out/axe"
mkdir -p "$OUT" "$AXE_OUT"

# --- 1. install exactly what the lockfile says ------------------------------
cp "$SCRIPT_DIR/package.json" "$SCRIPT_DIR/package-lock.json" "$WORK/"
note "npm ci in $WORK"
(cd "$WORK" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error >&2)

ver() { node -p "require(process.argv[1]).version" "$NM/$1/package.json"; }
# Every dependency in package.json must be an exact version and be what npm installed.
node - "$WORK" <<'EOF' || die "pinned versions do not match installed packages"
const path = require('path'), dir = process.argv[2];
const deps = require(path.join(dir, 'package.json')).dependencies;
let ok = true;
for (const [name, want] of Object.entries(deps)) {
  const got = require(path.join(dir, 'node_modules', name, 'package.json')).version;
  if (!/^\d+\.\d+\.\d+$/.test(want) || got !== want) {
    console.error(`  ${name}: package.json says ${want}, installed ${got}`); ok = false;
  }
}
process.exit(ok ? 0 : 1);
EOF

GOVUK_V=$(ver govuk-frontend)
HTMX_V=$(ver htmx.org)
VEGA_V=$(ver vega)
VL_V=$(ver vega-lite)
EMBED_V=$(ver vega-embed)
AXE_V=$(ver axe-core)
SASS_V=$(ver sass)
SWAGGER_V=$(ver swagger-ui-dist)
note "govuk-frontend $GOVUK_V, htmx.org $HTMX_V, vega $VEGA_V, vega-lite $VL_V, vega-embed $EMBED_V, swagger-ui-dist $SWAGGER_V, axe-core $AXE_V (sass $SASS_V)"

[[ $GOVUK_V == 5.* ]] || die "govuk-frontend must be 5.x (got $GOVUK_V)"
[[ $HTMX_V == 2.* ]] || die "htmx.org must be 2.x (got $HTMX_V)"

# --- 2. vl-convert must render with the same Vega-Lite (major.minor) --------
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VLC_INFO=""
VLC_SENTENCE="vl-convert was NOT checked by the last build."
if [[ ${FOREWARN_SKIP_VL_CHECK:-0} == 1 ]]; then
  note "vl-convert check skipped (FOREWARN_SKIP_VL_CHECK=1)"
elif [[ -x $PY ]] && VLC_INFO=$("$PY" -c '
import vl_convert as v
print(v.__version__, v.get_vega_version(), v.get_vega_embed_version(), ",".join(v.get_vegalite_versions()), v.__file__)' 2>/dev/null); then
  read -r VLC_V VLC_VEGA VLC_EMBED VLC_VLS VLC_FILE <<<"$VLC_INFO"
  VL_MM=$(cut -d. -f1,2 <<<"$VL_V")
  if [[ ",$VLC_VLS," != *",$VL_MM,"* ]]; then
    die "vega-lite $VL_V: vl-convert $VLC_V only bundles Vega-Lite $VLC_VLS; pin a matching vega-lite in scripts/package.json"
  fi
  [[ $VLC_VEGA == "$VEGA_V" ]] || note "WARNING: vl-convert $VLC_V renders with vega $VLC_VEGA, pages get vega $VEGA_V"
  [[ $VLC_EMBED == "$EMBED_V" ]] || note "note: vl-convert $VLC_V bundles vega-embed $VLC_EMBED, pages get vega-embed $EMBED_V"
  # vl-convert reports major.minor only; its native library names the exact patch.
  VLC_VL_EXACT=$(grep -aoE "vega-lite@$VL_MM\.[0-9]+" "$(dirname "$VLC_FILE")"/*.so 2>/dev/null | sort -u | cut -d@ -f2 | paste -sd, || true)
  [[ -z $VLC_VL_EXACT || ",$VLC_VL_EXACT," == *",$VL_V,"* ]] \
    || note "WARNING: vl-convert $VLC_V embeds vega-lite $VLC_VL_EXACT, pages get $VL_V (same minor)"
  VLC_SENTENCE="Checked at build time against vl-convert $VLC_V: it offers Vega-Lite ${VLC_VLS//,/, } (its $VL_MM is vega-lite ${VLC_VL_EXACT:-?}) and renders with vega $VLC_VEGA / vega-embed $VLC_EMBED."
  note "vl-convert $VLC_V bundles Vega-Lite $VLC_VLS and vega $VLC_VEGA: OK for vega-lite $VL_V (use vl_version=\"v$VL_MM\")"
else
  note "WARNING: $PY cannot import vl_convert; vl-convert compatibility NOT checked"
fi

strip_js_map() { sed -E -i 's@//[#@] sourceMappingURL=[^[:space:]]*[[:space:]]*$@@' "$1"; }

# --- 3. GOV.UK Frontend ------------------------------------------------------
G="$NM/govuk-frontend/dist/govuk"
mkdir -p "$OUT/govuk"
# Rebuild the CSS from the package's Sass so fonts/images resolve under our
# static mount instead of the default /assets/.
cat >"$WORK/govuk.scss" <<EOF
@use "govuk-frontend/dist/govuk" with (
  \$govuk-assets-path: "$GOVUK_ASSETS_URL"
);
EOF
"$NM/.bin/sass" --load-path="$NM" --style=compressed --no-source-map --quiet-deps \
  "$WORK/govuk.scss" "$OUT/govuk/govuk-frontend.min.css"
cp "$G/govuk-frontend.min.js" "$OUT/govuk/govuk-frontend.min.js"
strip_js_map "$OUT/govuk/govuk-frontend.min.js"
cp -R "$G/assets" "$OUT/govuk/assets"
# The npm package ships no licence file (package.json says MIT); this is the
# text of LICENSE.txt in the alphagov/govuk-frontend repository.
cat >"$OUT/govuk/LICENSE.txt" <<'EOF'
The MIT License (MIT)

Copyright (C) 2017 Crown Copyright (Government Digital Service)

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.

---
Not covered by the MIT licence above:
- assets/fonts/* (GDS Transport): "Copyright (c) 2011 by Margaret Calvert &
  Henrik Kubel. All rights reserved. The font has been customised for exclusive
  use on gov.uk. This cut is not commercially available."
- assets/images/* and assets/rebrand/images/* (GOV.UK crest, crown and icons):
  Crown copyright; for GOV.UK services only.
EOF

# Same as the precompiled CSS apart from the asset prefix?
grep -q -- "--govuk-frontend-version: *\"$GOVUK_V\"" "$OUT/govuk/govuk-frontend.min.css" \
  || die "rebuilt govuk-frontend CSS lacks version $GOVUK_V"
urls() { grep -oE 'url\([^)]*\)' "$1" | sed -E 's/^url\(["'\'']?//; s/["'\'']?\)$//' | sort -u; }
diff <(urls "$G/govuk-frontend.min.css" | sed 's@^/assets/@@') \
     <(urls "$OUT/govuk/govuk-frontend.min.css" | sed "s@^$GOVUK_ASSETS_URL@@") >&2 \
  || die "rebuilt CSS references different assets than the precompiled one"
while read -r u; do
  [[ $u == "$GOVUK_ASSETS_URL"* ]] || die "CSS url() outside $GOVUK_ASSETS_URL: $u"
  [[ -f "$OUT/govuk/assets/${u#"$GOVUK_ASSETS_URL"}" ]] || die "CSS url() target missing: $u"
done < <(urls "$OUT/govuk/govuk-frontend.min.css")

# --- 4. htmx -------------------------------------------------------------------
mkdir -p "$OUT/htmx"
cp "$NM/htmx.org/dist/htmx.min.js" "$OUT/htmx/htmx-$HTMX_V.min.js"
strip_js_map "$OUT/htmx/htmx-$HTMX_V.min.js"
cp "$NM/htmx.org/LICENSE" "$OUT/htmx/LICENSE"

# --- 5. Vega, Vega-Lite, Vega-Embed (UMD builds: globals vega, vegaLite, vegaEmbed)
mkdir -p "$OUT/vega"
cp "$NM/vega/build/vega.min.js" "$OUT/vega/vega-$VEGA_V.min.js"
cp "$NM/vega-lite/build/vega-lite.min.js" "$OUT/vega/vega-lite-$VL_V.min.js"
cp "$NM/vega-embed/build/vega-embed.min.js" "$OUT/vega/vega-embed-$EMBED_V.min.js"
for f in "$OUT"/vega/*.min.js; do strip_js_map "$f"; done
cp "$NM/vega/LICENSE" "$OUT/vega/LICENSE.vega"
cp "$NM/vega-lite/LICENSE" "$OUT/vega/LICENSE.vega-lite"
cp "$NM/vega-embed/LICENSE" "$OUT/vega/LICENSE.vega-embed"
# The minified bundles inline parts of their dependencies (d3-*, vega-* modules,
# topojson-client, vega-themes, vega-tooltip, fast-json-patch, ...).  Collect the
# licence of every package in their runtime dependency closure (a superset of
# what is bundled), one entry per package name.
node - "$WORK" vega vega-lite vega-embed >"$OUT/vega/THIRD-PARTY-LICENSES.txt" <<'EOF'
const fs = require('fs'), path = require('path');
const [root, ...tops] = process.argv.slice(2);
const find = (from, name) => {
  for (let d = from; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (path.dirname(d) === d) return null;
  }
};
const seen = new Map();
const walk = (dir) => {
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const key = `${pj.name}@${pj.version}`;
  if (seen.has(key)) return;
  seen.set(key, { dir, pj });
  for (const n of Object.keys(pj.dependencies || {})) { const p = find(dir, n); if (p) walk(p); }
};
tops.forEach((t) => walk(path.join(root, 'node_modules', t)));
const byName = new Map();
for (const { dir, pj } of seen.values()) {
  if (tops.includes(pj.name) || pj.name.startsWith('@types/')) continue;
  const e = byName.get(pj.name) || { versions: [], dir, pj };
  e.versions.push(pj.version);
  byName.set(pj.name, e);
}
// Group packages whose licence text is identical (most d3-* / vega-* share one).
const groups = new Map();
for (const name of [...byName.keys()].sort()) {
  const { versions, dir, pj } = byName.get(name);
  const lic = fs.readdirSync(dir).filter((f) => /^(licen[cs]e|copying)/i.test(f)).sort();
  const text = lic.length
    ? lic.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join('\n\n')
    : `(no licence file in the package; package.json says ${pj.license})`;
  if (!groups.has(text)) groups.set(text, []);
  groups.get(text).push(`${name} ${versions.sort().join(', ')} (${pj.license || '?'})`);
}
console.log('Licences of the npm packages that vega, vega-lite and vega-embed depend on at run time.');
console.log('Their minified bundles in this folder inline a subset of these packages.');
for (const [text, pkgs] of groups) {
  console.log('\n' + '='.repeat(78));
  for (const p of pkgs) console.log(p);
  console.log('='.repeat(78) + '\n' + text);
}
EOF

# --- 5b. Swagger UI (the /api/docs page; UMD bundle, global SwaggerUIBundle) ------
# The page's own start-up script (static/forewarn/api-docs.js) turns off the online validator badge, the one
# thing Swagger UI would otherwise fetch from another host.
mkdir -p "$OUT/swagger-ui"
cp "$NM/swagger-ui-dist/swagger-ui-bundle.js" "$OUT/swagger-ui/swagger-ui-bundle-$SWAGGER_V.min.js"
cp "$NM/swagger-ui-dist/swagger-ui.css" "$OUT/swagger-ui/swagger-ui-$SWAGGER_V.min.css"
strip_js_map "$OUT/swagger-ui/swagger-ui-bundle-$SWAGGER_V.min.js"
sed -E -i 's@/\*# sourceMappingURL=[^*]*\*/@@' "$OUT/swagger-ui/swagger-ui-$SWAGGER_V.min.css"
cp "$NM/swagger-ui-dist/LICENSE" "$OUT/swagger-ui/LICENSE"
cp "$NM/swagger-ui-dist/NOTICE" "$OUT/swagger-ui/NOTICE"
cp "$NM/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt" "$OUT/swagger-ui/THIRD-PARTY-LICENSES.txt"

# --- 6. axe-core (browser accessibility tests only; never served by the app) --
cp "$NM/axe-core/axe.min.js" "$AXE_OUT/axe.min.js"
strip_js_map "$AXE_OUT/axe.min.js"
cp "$NM/axe-core/LICENSE" "$AXE_OUT/axe-core.LICENSE"
cp "$NM/axe-core/LICENSE-3RD-PARTY.txt" "$AXE_OUT/axe-core.LICENSE-3RD-PARTY.txt"

# --- 7. nothing may make a browser fetch from elsewhere ----------------------
bad=0
while IFS= read -r -d '' f; do
  case "$f" in
    *.css)
      if grep -EIn -o 'url\([[:space:]]*["'\'']?[[:space:]]*(https?:)?//[^)]*\)|@import[^;]*' "$f" >&2; then
        note "external url()/@import in ${f#"$WORK/out/"}"; bad=1
      fi ;;
    *.js)
      # ES module imports/dynamic imports/workers from absolute URLs, CDN hosts,
      # source maps (dev tools would request them).
      if grep -EIn -o '(import[[:space:]]*\(?[^;()]{0,80}["'\''`](https?:)?//[^"'\''`]*|importScripts\([^)]*\)|(cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|fonts\.googleapis\.com|fonts\.gstatic\.com)[^"'\''`]{0,40}|sourceMappingURL=[^[:space:]*]*)' "$f" >&2; then
        note "external reference in ${f#"$WORK/out/"}"; bad=1
      fi ;;
  esac
done < <(find "$WORK/out" -type f \( -name '*.css' -o -name '*.js' \) -print0)
# Web app manifests: icon src must be relative.
while IFS= read -r -d '' f; do
  if grep -En '"src"[[:space:]]*:[[:space:]]*"((https?:)?//|/)' "$f" >&2; then note "absolute icon URL in $f"; bad=1; fi
done < <(find "$OUT" -name manifest.json -print0)
[[ $bad == 0 ]] || die "vendored files reference external resources (see above)"
find "$WORK/out" -name '*.map' | grep -q . && die "source maps were copied"

# --- 8. versions.json and README.md -----------------------------------------
sri() { printf 'sha384-%s' "$(openssl dgst -sha384 -binary "$1" | openssl base64 -A)"; }
entry() { # name version key=relpath...
  local name=$1 version=$2; shift 2
  printf '  "%s": {\n    "version": "%s"' "$name" "$version"
  local kv
  for kv in "$@"; do
    printf ',\n    "%s": "%s/vendor/%s"' "${kv%%=*}" "$STATIC_URL" "${kv#*=}"
    [[ ${kv#*=} == */ ]] || printf ',\n    "%s_integrity": "%s"' "${kv%%=*}" "$(sri "$OUT/${kv#*=}")"
  done
  printf '\n  }'
}
{
  echo "{"
  entry govuk-frontend "$GOVUK_V" css=govuk/govuk-frontend.min.css js=govuk/govuk-frontend.min.js assets=govuk/assets/; echo ","
  entry htmx.org "$HTMX_V" js="htmx/htmx-$HTMX_V.min.js"; echo ","
  entry vega "$VEGA_V" js="vega/vega-$VEGA_V.min.js"; echo ","
  entry vega-lite "$VL_V" js="vega/vega-lite-$VL_V.min.js"; echo ","
  entry vega-embed "$EMBED_V" js="vega/vega-embed-$EMBED_V.min.js"; echo ","
  entry swagger-ui-dist "$SWAGGER_V" js="swagger-ui/swagger-ui-bundle-$SWAGGER_V.min.js" css="swagger-ui/swagger-ui-$SWAGGER_V.min.css"; echo
  echo "}"
} >"$OUT/versions.json"
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$OUT/versions.json" || die "bad versions.json"

size() { numfmt --to=iec --suffix=B --format='%.1f' "$(du -sb "$1" | cut -f1)"; }
VL_MM=$(cut -d. -f1,2 <<<"$VL_V")
BODY_SNIPPET="document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');"
SNIPPET_HASH="sha256-$(printf '%s' "$BODY_SNIPPET" | openssl dgst -sha256 -binary | openssl base64 -A)"
cat >"$OUT/README.md" <<EOF
# Vendored front-end assets

**Generated by \`scripts/build_assets.sh\` — do not edit anything in this folder by
hand.** To upgrade, change the exact versions in \`scripts/package.json\`, refresh
\`scripts/package-lock.json\` (\`cd scripts && npm install --package-lock-only
--ignore-scripts\`) and run \`bash scripts/build_assets.sh\`.

Everything a Forewarn page needs is served by the app itself from
\`src/forewarn/web/static/\` (mounted at \`$STATIC_URL\`). No file here loads anything
from a CDN or any other host; the build script fails if one would.

| File (URL) | What | Version | npm package | Licence | Size |
| --- | --- | --- | --- | --- | --- |
| \`$STATIC_URL/vendor/govuk/govuk-frontend.min.css\` | GOV.UK Frontend styles, rebuilt from the package's Sass with \`\$govuk-assets-path: "$GOVUK_ASSETS_URL"\` | $GOVUK_V | govuk-frontend | MIT (\`govuk/LICENSE.txt\`) | $(size "$OUT/govuk/govuk-frontend.min.css") |
| \`$STATIC_URL/vendor/govuk/govuk-frontend.min.js\` | GOV.UK Frontend components, **ES module** (\`dist/govuk/govuk-frontend.min.js\`) | $GOVUK_V | govuk-frontend | MIT | $(size "$OUT/govuk/govuk-frontend.min.js") |
| \`$STATIC_URL/vendor/govuk/assets/\` | fonts (GDS Transport), images (crest, favicons, icons), \`manifest.json\`, \`rebrand/\` (2025 brand) | $GOVUK_V | govuk-frontend | see below | $(size "$OUT/govuk/assets") |
| \`$STATIC_URL/vendor/htmx/htmx-$HTMX_V.min.js\` | htmx (\`dist/htmx.min.js\`), global \`htmx\` | $HTMX_V | htmx.org | 0BSD (\`htmx/LICENSE\`) | $(size "$OUT/htmx/htmx-$HTMX_V.min.js") |
| \`$STATIC_URL/vendor/vega/vega-$VEGA_V.min.js\` | Vega runtime (\`build/vega.min.js\`, UMD), global \`vega\` | $VEGA_V | vega | BSD-3-Clause (\`vega/LICENSE.vega\`) | $(size "$OUT/vega/vega-$VEGA_V.min.js") |
| \`$STATIC_URL/vendor/vega/vega-lite-$VL_V.min.js\` | Vega-Lite compiler (\`build/vega-lite.min.js\`, UMD), global \`vegaLite\` | $VL_V | vega-lite | BSD-3-Clause (\`vega/LICENSE.vega-lite\`) | $(size "$OUT/vega/vega-lite-$VL_V.min.js") |
| \`$STATIC_URL/vendor/vega/vega-embed-$EMBED_V.min.js\` | Vega-Embed (\`build/vega-embed.min.js\`, UMD), global \`vegaEmbed\` | $EMBED_V | vega-embed | BSD-3-Clause (\`vega/LICENSE.vega-embed\`) | $(size "$OUT/vega/vega-embed-$EMBED_V.min.js") |
| \`$STATIC_URL/vendor/swagger-ui/swagger-ui-bundle-$SWAGGER_V.min.js\` | Swagger UI (\`swagger-ui-bundle.js\`, UMD), global \`SwaggerUIBundle\`; the \`/api/docs\` page only | $SWAGGER_V | swagger-ui-dist | Apache-2.0 (\`swagger-ui/LICENSE\`, \`NOTICE\`, bundled packages in \`THIRD-PARTY-LICENSES.txt\`) | $(size "$OUT/swagger-ui/swagger-ui-bundle-$SWAGGER_V.min.js") |
| \`$STATIC_URL/vendor/swagger-ui/swagger-ui-$SWAGGER_V.min.css\` | Swagger UI styles | $SWAGGER_V | swagger-ui-dist | Apache-2.0 | $(size "$OUT/swagger-ui/swagger-ui-$SWAGGER_V.min.css") |
| \`vega/THIRD-PARTY-LICENSES.txt\` | licences of the packages the Vega bundles inline (d3-*, topojson-client, vega-themes, vega-tooltip, ...) | | | ISC, MIT, BSD-3-Clause, 0BSD, Unlicense | |
| \`versions.json\` | machine-readable URLs, versions and SRI hashes of the files above | | | | |

Outside this folder: \`tests/browser/assets/axe.min.js\` — axe-core $AXE_V
(\`axe.min.js\`), for the browser accessibility tests only; never served by the
app. Licence MPL-2.0 (\`tests/browser/assets/axe-core.LICENSE\`, third-party
notices in \`axe-core.LICENSE-3RD-PARTY.txt\`); the file is unmodified.

Source maps are not shipped, and their \`sourceMappingURL\` comments are removed.

## Versions that must move together

Charts are drawn twice: on the server to SVG by \`vl-convert-python\` and in the
page by Vega-Embed. Vega-Lite here is $VL_V, a version that vl-convert bundles
(pass \`vl_version="v$VL_MM"\` to \`vl_convert.vegalite_to_svg\`), with vega $VEGA_V and
vega-embed $EMBED_V. $VLC_SENTENCE The build script stops if the installed
vl-convert no longer offers Vega-Lite $VL_MM.

## How pages use these files

\`\`\`html
<!DOCTYPE html>
<html lang="en" class="govuk-template govuk-template--rebranded">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
  <meta name="theme-color" content="#1d70b8">
  <link rel="icon" sizes="48x48" href="$STATIC_URL/vendor/govuk/assets/rebrand/images/favicon.ico">
  <link rel="icon" sizes="any" href="$STATIC_URL/vendor/govuk/assets/rebrand/images/favicon.svg" type="image/svg+xml">
  <link rel="mask-icon" href="$STATIC_URL/vendor/govuk/assets/rebrand/images/govuk-icon-mask.svg" color="#1d70b8">
  <link rel="apple-touch-icon" href="$STATIC_URL/vendor/govuk/assets/rebrand/images/govuk-icon-180.png">
  <link rel="manifest" href="$STATIC_URL/vendor/govuk/assets/rebrand/manifest.json">
  <link rel="stylesheet" href="$STATIC_URL/vendor/govuk/govuk-frontend.min.css">
</head>
<body class="govuk-template__body">
  <script>$BODY_SNIPPET</script>
  ... page ...
  <script src="$STATIC_URL/vendor/htmx/htmx-$HTMX_V.min.js"></script>
  <!-- chart pages only, in this order: -->
  <script src="$STATIC_URL/vendor/vega/vega-$VEGA_V.min.js"></script>
  <script src="$STATIC_URL/vendor/vega/vega-lite-$VL_V.min.js"></script>
  <script src="$STATIC_URL/vendor/vega/vega-embed-$EMBED_V.min.js"></script>
  <script type="module">
    import { initAll } from '$STATIC_URL/vendor/govuk/govuk-frontend.min.js'
    initAll()
  </script>
</body>
</html>
\`\`\`

- The inline body script adds \`js-enabled\` and \`govuk-frontend-supported\`; GOV.UK
  Frontend 5 only styles/initialises JavaScript components when
  \`govuk-frontend-supported\` is on \`<body>\`. Its CSP hash is
  \`'$SNIPPET_HASH'\` (exactly the text above), or give it a nonce.
- \`govuk-frontend.min.js\` is an ES module: load it with \`type="module"\` /
  \`import\`, never as a classic script.
- Drop \`govuk-template--rebranded\` (and use \`assets/images/\` and \`assets/manifest.json\`
  instead of \`assets/rebrand/...\`) for the pre-2025 look.
- Vega-Embed: pass the spec as an object (not a URL), keep data inline, and set
  \`actions: false\` — the actions menu links to the online Vega Editor.
  Under a CSP without \`'unsafe-eval'\`, also pass
  \`{ast: true, expr: vegaEmbed.expressionInterpreter}\`; Vega-Embed injects a
  \`<style>\` element unless \`defaultStyle: false\`.
- htmx injects an inline indicator \`<style>\`; under a strict CSP set
  \`<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>\`.

## Licences and restrictions

- GOV.UK Frontend code: MIT, Crown copyright (text in \`govuk/LICENSE.txt\`; the
  npm package ships none). **The GDS Transport font files are "customised for
  exclusive use on gov.uk"** and the crest/crown images are for GOV.UK services:
  a service not on a gov.uk domain must not use them (rebuild the CSS with
  \`\$govuk-font-family\` set to a different font stack and
  \`\$govuk-include-default-font-face: false\`, and drop those files).
- htmx: 0BSD. Vega, Vega-Lite, Vega-Embed: BSD-3-Clause. Swagger UI: Apache-2.0. axe-core: MPL-2.0.
EOF

# --- 9. swap into place -------------------------------------------------------
rm -rf "$VENDOR"
mkdir -p "$(dirname "$VENDOR")" "$AXE_DIR"
cp -R "$OUT" "$VENDOR"
cp "$AXE_OUT"/* "$AXE_DIR/"

note "done: $(size "$VENDOR") in ${VENDOR#"$ROOT/"}, axe-core $(size "$AXE_DIR/axe.min.js") in ${AXE_DIR#"$ROOT/"}"
(cd "$ROOT" && find "${VENDOR#"$ROOT/"}" "${AXE_DIR#"$ROOT/"}" -type f -not -path '*/assets/*/*' -printf '%8s  %p\n' | sort -k2) >&2
