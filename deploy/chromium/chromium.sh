#!/usr/bin/env bash
# Debian's chromium for the console's browser tests (Playwright drives it by its executable path; its own
# browser download is not used).
#
#   deploy/chromium/chromium.sh check   exit 0 when chromium is here (prints its path); else install Debian's
#                                       `chromium` package (as root) or say what to install
#
# CHROMIUM names another executable.
set -euo pipefail

# Headless runs need chromium and its dependencies only; its recommended desktop packages (printing,
# notifications, avahi, udev) are left out. The fonts give pages and screenshots their text.
PACKAGES="--no-install-recommends chromium fonts-liberation"

found() {
  local path="${CHROMIUM:-}"
  [ -n "$path" ] || path="$(command -v chromium 2>/dev/null || true)"
  [ -n "$path" ] && [ -x "$path" ] && echo "$path"
}

check() {
  if found >/dev/null; then found; return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "chromium missing: installing Debian's chromium package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $PACKAGES >&2 || { apt-get update -q >&2 && apt-get install -y -q $PACKAGES >&2; }
    if found >/dev/null; then found; return 0; fi
  fi
  cat >&2 <<MSG
chromium not found (looked for CHROMIUM, then chromium on PATH).
The console's browser tests drive it with Playwright. Install it, as root:
    apt-get install $PACKAGES          # Debian/Ubuntu
or name an executable: export CHROMIUM=/path/to/chromium
MSG
  return 1
}

case "${1:-}" in
  check) check ;;
  *) echo "usage: $0 check" >&2; exit 2 ;;
esac
