#!/usr/bin/env bash
# Installs what the VS Code tests (test/vscode/, issue 19) drive, idempotently, into a cache
# outside the checkout so that a clean clone (.ci/run) reuses it instead of building it again:
#   - code-server 4.100.3 (VS Code 1.100.3, the last release for Node 20). VS Code's own test
#     runners (@vscode/test-electron, @vscode/test-web) download VS Code and fail on these
#     machines; code-server installs from npm and runs offline.
#   - Debian's chromium and fonts (driven by playwright-core, which never downloads a browser).
# code-server's postinstall downloads ripgrep from GitHub; the download cache it looks in first
# is seeded with Debian's rg so that nothing is downloaded but npm packages.
#
# Prints the code-server folder on its last line. The tests find it the same way:
#   $CSHARE_CODE_SERVER_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/cshare-test/code-server-4.100.3
# (test/vscode/codeServer.ts codeServerDir). A second run with everything installed does nothing
# (< 1 s).
set -euo pipefail

version=4.100.3
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cshare-test"
dir="${CSHARE_CODE_SERVER_DIR:-$cache/code-server-$version}"
entry="$dir/node_modules/code-server/out/node/entry.js"

# 1. System packages: native build deps of code-server's modules, ripgrep, the browser.
need=()
command -v rg >/dev/null 2>&1 || need+=(ripgrep)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -e /usr/include/gssapi/gssapi.h ] || [ -e /usr/include/krb5.h ] || need+=(libkrb5-dev)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "setup-vscode-test: apt-get install ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# 2. code-server, once: installed into a staging folder, renamed into place when complete, so
# an interrupted install is never taken for a finished one.
if [ -f "$entry" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/code-server/package.json"; then
  echo "setup-vscode-test: code-server $version already in $dir" >&2
else
  tmp="$(node -p 'require("os").tmpdir()')"
  rgcache="$tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$rgcache"
  tar czf "$rgcache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
  mkdir -p "$(dirname "$dir")"
  stage="$(mktemp -d "$(dirname "$dir")/.stage.XXXXXX")"
  trap 'rm -rf "$stage"' EXIT
  echo '{ "name": "cshare-code-server", "private": true }' > "$stage/package.json"
  start=$(date +%s)
  echo "setup-vscode-test: npm install code-server@$version into $dir (native builds, about a minute or more)" >&2
  (cd "$stage" && npm_config_yes=true npm install "code-server@$version" --no-audit --no-fund --unsafe-perm --foreground-scripts >&2)
  [ -f "$stage/node_modules/code-server/out/node/entry.js" ] || { echo "setup-vscode-test: code-server did not install" >&2; exit 1; }
  rm -rf "$dir"
  mv "$stage" "$dir"
  trap - EXIT
  echo "setup-vscode-test: installed in $(( $(date +%s) - start )) s" >&2
fi
echo "$dir"
