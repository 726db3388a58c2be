#!/usr/bin/env bash
# desktop-smoke.sh starts the real desktop build under Xvfb and a private
# D-Bus session, waits until its start-up self-check reports that IndexedDB
# works in the webview and a binding round-tripped, takes a screenshot, and
# stops the app with SIGTERM, which must close the window cleanly. In
# between, a record is typed into the window with the keyboard only (xdotool:
# skip link, "New record", the form's fields, Enter) and, once the app has
# stopped, `fieldsync export` must find it in the journal: the window's data
# layer handed it to Go.
#
#   scripts/desktop-smoke.sh            uses build/bin/fieldsync (make build)
#   FIELDSYNC_BIN=path scripts/desktop-smoke.sh
#
# Everything the app writes (data dir, WebKit's IndexedDB under
# $XDG_DATA_HOME/<executable>, caches, config) goes to a temp dir that is
# removed afterwards. Artefacts: build/artifacts/desktop-smoke.png (after the
# self-check), build/artifacts/desktop-record.png (the typed record listed)
# and build/artifacts/desktop-smoke.log. Needs: xvfb, xauth, dbus-x11 (or
# dbus), at-spi2-core, imagemagick (or x11-apps' xwd), xdotool.
# FIELDSYNC_SMOKE_RECORD=0 skips the typed record.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${FIELDSYNC_BIN:-build/bin/fieldsync}
timeout_s=${FIELDSYNC_SMOKE_TIMEOUT:-60}
art=build/artifacts
shot=$art/desktop-smoke.png
recshot=$art/desktop-record.png
logcopy=$art/desktop-smoke.log
collections=$PWD/docs/examples/collections.json
typed=${FIELDSYNC_SMOKE_RECORD:-1}

die() { printf 'desktop-smoke: %s\n' "$*" >&2; exit 1; }

[ -x "$bin" ] || die "$bin is missing: build it first (make build)"
tools=(Xvfb dbus-run-session)
[ "$typed" = 0 ] || tools+=(xdotool)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup.sh installs it)"
done
if command -v import >/dev/null; then
  snap() { import -display ":$display" -window root "$1"; }
elif command -v xwd >/dev/null && command -v convert >/dev/null; then
  snap() { xwd -display ":$display" -root -silent | convert xwd:- "png:$1"; }
else
  die "no screenshot tool: install imagemagick"
fi

mkdir -p "$art"
rm -f "$shot" "$recshot" "$logcopy"
tmp=$(mktemp -d /tmp/fieldsync-desktop-smoke.XXXXXX)
mkdir -m 0700 -p "$tmp/home" "$tmp/data" "$tmp/config" "$tmp/cache" "$tmp/run" "$tmp/fieldsync"
applog=$tmp/app.log
report=$tmp/fieldsync/selfcheck.json
xvfb_pid='' app_pid='' session_pid=''

cleanup() {
  local rc=$?
  # Only the processes this script started, by pid.
  [ -n "$app_pid" ] && kill -KILL "$app_pid" 2>/dev/null
  [ -n "$session_pid" ] && kill -TERM "$session_pid" 2>/dev/null && wait "$session_pid" 2>/dev/null
  [ -n "$xvfb_pid" ] && kill -TERM "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null
  [ -f "$applog" ] && cp "$applog" "$logcopy"
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

fail() {
  printf 'desktop-smoke: FAILED: %s\n' "$*" >&2
  if [ -s "$report" ]; then
    echo "--- self-check report" >&2
    cat "$report" >&2
  fi
  echo "--- last lines of the app log ($logcopy)" >&2
  tail -n 40 "$applog" >&2 || true
  exit 1
}

# Without a display the real binary must say so in one line and exit
# non-zero, never try GTK and die with a stack trace (IT's first try over
# SSH); global flags before a command must reach that command.
nodisp=(env -u DISPLAY -u WAYLAND_DISPLAY HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data")
if out=$("${nodisp[@]}" "$bin" --data-dir "$tmp/nodisplay" 2>&1); then
  die "without a display fieldsync exited 0: $out"
fi
case $out in
  *panic*|*goroutine*) die "without a display fieldsync printed a stack trace: $out" ;;
  *"needs a display"*) ;;
  *) die "without a display fieldsync said: $out" ;;
esac
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || die "without a display fieldsync printed more than one line: $out"
out=$("${nodisp[@]}" "$bin" --data-dir "$tmp/nodisplay" --json status 2>&1) || die "fieldsync --data-dir D --json status failed: $out"
case $out in *'"pending"'*) ;; *) die "fieldsync --data-dir D --json status printed: $out" ;; esac
rm -rf "$tmp/nodisplay"

# A display of our own; -displayfd picks a free number and tells us.
Xvfb -displayfd 4 -screen 0 1280x860x24 -nolisten tcp -noreset \
  4>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/display" ] && break
  kill -0 "$xvfb_pid" 2>/dev/null || { cat "$tmp/xvfb.log" >&2; die "Xvfb did not start"; }
  sleep 0.1
done
display=$(tr -dc 0-9 <"$tmp/display")
[ -n "$display" ] || die "Xvfb did not report its display"

# The app's environment: everything under $tmp. No Drillbit is configured:
# capture works offline from the first start.
appenv=(
  HOME="$tmp/home"
  XDG_DATA_HOME="$tmp/data"
  XDG_CONFIG_HOME="$tmp/config"
  XDG_CACHE_HOME="$tmp/cache"
  XDG_RUNTIME_DIR="$tmp/run"
  FIELDSYNC_DATA_DIR="$tmp/fieldsync"
  FIELDSYNC_MANAGED_CONFIG="$tmp/config/managed.json"
)
appflags=(--collections "$collections" --device desktop-smoke)

# The app in a private D-Bus session, so GTK's helper daemons (a11y bus)
# end with it and its single-instance name cannot meet another fieldsync.
env -u DBUS_SESSION_BUS_ADDRESS DISPLAY=":$display" "${appenv[@]}" \
  dbus-run-session -- "$bin" "${appflags[@]}" >"$applog" 2>&1 &
session_pid=$!

echo "desktop-smoke: started $bin on display :$display, waiting up to ${timeout_s}s for the self-check"
deadline=$((SECONDS + timeout_s))
until [ -s "$report" ]; do
  kill -0 "$session_pid" 2>/dev/null || fail "the app exited before reporting its self-check"
  [ "$SECONDS" -lt "$deadline" ] || fail "no self-check report within ${timeout_s}s"
  sleep 0.25
done
grep -q '"healthy": true' "$report" || fail "the self-check reported a problem"
app_pid=$(sed -n 's/^  "pid": \([0-9][0-9]*\),*$/\1/p' "$report")
[ -n "$app_pid" ] || fail "the self-check report has no pid"
echo "desktop-smoke: self-check passed (IndexedDB ok, binding ok) in pid $app_pid"

# The status bar updates right after the report; give WebKit a moment to paint.
sleep 1
snap "$shot" || fail "screenshot failed"
# A window that failed to paint is one or two flat colours; the shell has
# text, icons and borders.
if command -v identify >/dev/null; then
  colours=$(identify -format '%k' "$shot")
  [ "${colours:-0}" -ge 16 ] || fail "the screenshot $shot is blank ($colours colours)"
fi
echo "desktop-smoke: screenshot $shot"

# --- a record typed into the window ------------------------------------------
site="Typed in the window $$"
key() { DISPLAY=":$display" xdotool key --delay 60 "$@"; }
text() { DISPLAY=":$display" xdotool type --delay 30 -- "$1"; }
if [ "$typed" != 0 ]; then
  # No window manager: keys go to the window under the pointer.
  DISPLAY=":$display" xdotool mousemove 640 430
  win=$(DISPLAY=":$display" xdotool search --onlyvisible --name '^fieldsync' 2>/dev/null | head -n 1 || true)
  [ -n "$win" ] && DISPLAY=":$display" xdotool windowfocus "$win" 2>/dev/null || true
  # Tab reaches "Skip to content" first; Enter moves to the screen's
  # content; Tab, Tab: the search field, then "New record"; Enter opens the
  # form with the focus in its first field (Site).
  key Tab; sleep 0.3; key Return; sleep 0.3
  key Tab Tab; sleep 0.3; key Return; sleep 1
  text "$site"; key Tab                 # Site
  text "xdotool"; key Tab               # Inspector
  text "21.5"; key Tab                  # Temperature
  text "0"; key Tab                     # Defects
  key space; key Tab                    # Passed
  text "low"; key Tab                   # Risk level (type-ahead in the select)
  # Inspected at: WebKitGTK draws datetime-local as segments (day, month,
  # year, hour, minute; the order follows the locale). Up sets a segment,
  # Right moves to the next and stays on the last, so this fills any order.
  key Up; for _ in 1 2 3 4 5; do key Right Up; done; key Tab
  text "typed with the keyboard only"   # Notes
  key Tab Return                        # Save
  # The data layer hands the change to Go right after the save (debounced
  # by a fraction of a second).
  sleep 3
  snap "$recshot" || fail "screenshot failed"
  echo "desktop-smoke: typed a record; screenshot $recshot"
fi

kill -TERM "$app_pid"
deadline=$((SECONDS + 20))
while kill -0 "$app_pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the app did not stop within 20s of SIGTERM"
  sleep 0.2
done
app_pid=''
rc=0
wait "$session_pid" || rc=$?
session_pid=''
[ "$rc" -eq 0 ] || fail "the app exited with status $rc after SIGTERM"
grep -q 'desktop window stopped' "$applog" || fail "the window did not shut down cleanly"
echo "desktop-smoke: stopped cleanly"

if [ "$typed" != 0 ]; then
  out=$(env -u DBUS_SESSION_BUS_ADDRESS "${appenv[@]}" "$bin" export --collection inspections \
    --data-dir "$tmp/fieldsync" "${appflags[@]}" 2>&1) || fail "fieldsync export failed: $out"
  printf '%s\n' "$out" | grep -F -- "\"site\":\"$site\"" | grep -q '"inspector":"xdotool"' ||
    fail "the record typed into the window is not in the journal (export: ${out:-nothing}); see $recshot"
  echo "desktop-smoke: the typed record is in the journal"
fi
echo "desktop-smoke: ok"
