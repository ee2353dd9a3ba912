#!/usr/bin/env bash
# The npm packages the tests run for real, installed into .tools/node_modules (gitignored) when missing:
#   @asyncapi/parser  the reference AsyncAPI parser (tests/asyncapi-validate.mjs checks docs/asyncapi.yaml)
# Needs node and npm (Debian: apt-get install nodejs npm). Without them it says so and fails: the
# tests never skip for want of a package.
set -euo pipefail

PARSER_VERSION=3.6.6
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
installed="$tools/node_modules/@asyncapi/parser/package.json"

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "the tests need $tool: apt-get install -y nodejs npm" >&2; exit 1; }
done
if [ -f "$installed" ] && grep -q "\"version\": \"$PARSER_VERSION\"" "$installed"; then
  exit 0
fi
echo "installing @asyncapi/parser@$PARSER_VERSION into .tools/ (npm)"
mkdir -p "$tools"
npm install --prefix "$tools" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
  "@asyncapi/parser@$PARSER_VERSION" >/dev/null
