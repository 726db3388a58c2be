#!/usr/bin/env bash
# setup.sh installs everything fieldsync needs to build, run and test on a
# Debian 12 machine: apt packages, the Wails CLI and Go tools, Go modules,
# npm packages and the Maven jars of the development Drillbit.
#
# It is idempotent and quiet: each step checks first and does nothing when
# its part is already there. Output appears only when something is installed
# or fails. Run it as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

# Versions are pinned here and nowhere else.
WAILS_VERSION=v2.16.0
STATICCHECK_VERSION=v0.8.2   # staticcheck 2026.2.2
APT_PACKAGES=(
  build-essential pkg-config
  libgtk-3-dev libwebkit2gtk-4.1-dev   # the Wails window (build tag webkit2_41)
  xvfb xauth dbus-x11 at-spi2-core      # a display for the desktop smoke test
  x11-apps imagemagick xdotool          # window screenshots, typing into the window
  chromium                              # browser tests (playwright-core drives it)
  nsis osslsigncode p7zip-full          # Windows installer: build, sign, list (make windows)
  systemd desktop-file-utils            # systemd-analyze verify, desktop-file-validate (test-deb.sh)
  curl ca-certificates
)

say() { printf 'setup: %s\n' "$*" >&2; }
need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- toolchains: checked, not installed (Debian 12's own are too old) -------
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
need_tool() { # name have want how
  if [ -z "$2" ] || ! version_ge "$2" "$3"; then
    say "$1 $3 or newer is needed (found: ${2:-none}). $4"; exit 1
  fi
}
need_tool go "$(go env GOVERSION 2>/dev/null | sed 's/^go//')" 1.26 "Install it from the Go downloads page into /usr/local/go."
need_tool node "$(node --version 2>/dev/null | sed 's/^v//')" 20.19 "Vite 7 needs it; install Node.js 20 LTS (Debian 12's nodejs 18 is too old)."
need_tool java "$(java -version 2>&1 | sed -n 's/.*version "\([0-9.]*\).*/\1/p' | head -n1)" 17 "apt-get install openjdk-17-jdk-headless"
command -v mvn >/dev/null || { say "Maven is needed for the development Drillbit: apt-get install maven"; exit 1; }

# --- apt -----------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  log=$(mktemp)
  if ! { need_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2; say "apt-get install failed (log above)"; exit 1
  fi
  rm -f "$log"
fi

# --- Go tools --------------------------------------------------------------
GOBIN=$(go env GOPATH)/bin
# Outputs are captured before grep: with pipefail, `grep -q` closing the pipe
# early would make the check fail and reinstall needlessly.
have_go_tool() { # name version-substring [version-flag]
  local out
  [ -x "$GOBIN/$1" ] || return 1
  out=$("$GOBIN/$1" "${3:--version}" 2>/dev/null) || return 1
  grep -q -- "$2" <<<"$out"
}
if ! have_go_tool wails "$WAILS_VERSION" version; then
  say "installing the Wails CLI $WAILS_VERSION"
  go install "github.com/wailsapp/wails/v2/cmd/wails@$WAILS_VERSION"
fi
if ! have_go_tool staticcheck "${STATICCHECK_VERSION#v}"; then
  say "installing staticcheck $STATICCHECK_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi

# --- Go modules ------------------------------------------------------------
go mod download

# --- npm: the frontend and the end-to-end tests ------------------------------
for dir in frontend e2e; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp=$dir/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    say "installing npm packages in $dir (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done

# --- the development Drillbit's jars ---------------------------------------
if [ -x scripts/drillbit.sh ]; then
  scripts/drillbit.sh build
fi
# --- the development cluster's jars (hadoop-minicluster 3.3.6, ZooKeeper) ------
if [ -x scripts/cluster.sh ]; then
  scripts/cluster.sh build
fi
