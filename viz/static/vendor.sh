#!/usr/bin/env bash
# Vendor the explorer's one JavaScript library from the npm registry at a pinned version:
#   bash viz/static/vendor.sh [VERSION]      (or: make vendor-js GRAPHVIZ_JS=VERSION)
# It downloads the npm tarball with `npm pack` (which checks the registry's integrity hash), copies
# the self-contained ES module (Graphviz compiled to WebAssembly, the wasm inlined) and its licence
# here, and records the version and SHA-256 in graphviz.VERSION. Commit the three files.
set -euo pipefail
version="${1:-1.29.2}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@hpcc-js/wasm-graphviz@$version" >/dev/null && tar xzf ./*.tgz)
if grep -qi '</script' "$tmp/package/dist/index.js"; then
    echo "vendor.sh: dist/index.js contains '</script'; it cannot be inlined as is" >&2
    exit 1
fi
cp "$tmp/package/dist/index.js" "$here/graphviz.js"
cp "$tmp/package/LICENSE" "$here/graphviz.LICENSE"
printf '@hpcc-js/wasm-graphviz %s\nsha256 %s\n' "$version" "$(sha256sum "$here/graphviz.js" | cut -d' ' -f1)" \
    > "$here/graphviz.VERSION"
cat "$here/graphviz.VERSION"
