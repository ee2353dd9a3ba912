#!/usr/bin/env bash
# The Debian packages the integration tests run for real, installed when missing:
#   openssh-server  sshd + sftp-server  (tests/sshd.py: the SFTP client against OpenSSH)
#   docker-compose  renders docker-compose.yml  (tests/test_compose.py)
#   prometheus      prometheus + promtool: the alert rules checked, unit-tested and evaluated live
#                   (tests/integration/deploy/)
# Needs root (or sudo) and apt-get. Without them it names what is missing and how to get it, and fails:
# the tests never skip for want of a package.
set -euo pipefail

# the npm packages (the AsyncAPI reference parser), into .tools/
bash "$(dirname "$0")/node-packages.sh"

missing=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
{ [ -x /usr/bin/prometheus ] && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else SUDO=(none); fi
if ! command -v apt-get >/dev/null 2>&1 || [ "${SUDO[0]:-}" = none ]; then
  echo "the tests need these Debian packages: ${missing[*]}" >&2
  echo "install them as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (apt-get)"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
