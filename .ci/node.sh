#!/usr/bin/env bash
# Prints the bin directory of a Node.js 22 LTS build, fetched once from the npm registry into a cache folder
# outside the repository and reused afterwards. CI machines carry an older Node than package.json's engines
# allows; the registry's node-linux-<arch> packages are the official Linux builds, so the machine's own npm
# can fetch one (checked against the registry's integrity hash) without any other download tool.
# Messages go to stderr: stdout is the directory alone, for PATH.
set -euo pipefail

# One exact version, so every CI run tests the same runtime; raise it for Node 22 security releases.
version=22.23.5

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "no node-linux build for $(uname -m); install Node.js $version or later yourself" >&2; exit 1 ;;
esac

cache=${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse
dir=$cache/node-$version-linux-$arch
bin=$dir/node_modules/node-linux-$arch/bin

if [ ! -x "$bin/node" ]; then
  echo "Fetching Node.js $version (node-linux-$arch) into $dir" >&2
  mkdir -p "$cache"
  # Installed beside the final folder and renamed into place: an interrupted fetch leaves nothing half-made,
  # and of two runs fetching at once the second keeps the first one's folder.
  staging=$(mktemp -d "$cache/.node-XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  chmod 755 "$staging"
  # Run from the staging folder so no project's package.json or .npmrc takes part.
  (cd "$staging" && npm install --prefix "$staging" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "node-linux-$arch@$version" >&2)
  if ! mv -T "$staging" "$dir" 2>/dev/null; then rm -rf "$staging"; fi
fi

"$bin/node" -e "process.exit(process.versions.node === '$version' ? 0 : 1)" \
  || { echo "$bin/node is not Node.js $version: remove $dir and run again" >&2; exit 1; }
echo "$bin"
