#!/usr/bin/env bash
# test-deb.sh builds the .deb and checks it, first as a file (control fields,
# every file in place with its mode, the packaged binary runs), then really
# installed on this machine with apt-get, as CI does (root, or sudo):
#   1. an older package (same binary, version 0.0.1~old) is installed and a
#      user's data is written with the installed fieldsync (import);
#   2. the current package is installed over it: the data is still there and
#      readable (export, status);
#   3. the installed files: binary, menu and autostart entries
#      (desktop-file-validate), the systemd units (systemd-analyze verify
#      --user, which needs an XDG_RUNTIME_DIR: a root shell in a container has
#      none, so one is made here), the ingester's system timer and service
#      (verified, not enabled, running `fieldsync ingest --once`, which says
#      what is missing when no Drillbit is set), and `fieldsync doctor` runs
#      and reports with no Drillbit configured;
#   4. remove keeps only the autostart conffile, purge leaves nothing of the
#      package behind (the user's data is never the package's to delete).
# The package is purged on exit whatever happened. The test refuses to run
# when fieldsync is already installed here (it would remove it), and waits
# for a lock so that test runs from several worktrees take turns.
set -euo pipefail
cd "$(dirname "$0")/.."
errors=0
fail() { echo "test-deb: FAIL: $*" >&2; errors=$((errors + 1)); }
die() { echo "test-deb: FAIL: $*" >&2; exit 1; }

deb=$(scripts/package-deb.sh)
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -f "$deb" Package | grep -qx fieldsync || die "Package field"
dpkg-deb -f "$deb" Depends | grep -q libwebkit2gtk-4.1-0 || die "Depends lacks WebKitGTK 4.1"
contents=$(dpkg-deb -c "$deb")
for want in "-rwxr-xr-x root/root .* ./usr/bin/fieldsync" \
            "./usr/share/applications/fieldsync.desktop" \
            "./etc/xdg/autostart/fieldsync.desktop" \
            "./usr/lib/systemd/user/fieldsync-agent.service" \
            "./usr/lib/systemd/system/fieldsync-compact.service" \
            "./usr/lib/systemd/system/fieldsync-compact.timer" \
            "./usr/lib/systemd/system/fieldsync-compact-json.service" \
            "./usr/lib/systemd/system/fieldsync-compact-json.timer" \
            "./usr/lib/systemd/system/fieldsync-ingest.service" \
            "./usr/lib/systemd/system/fieldsync-ingest.timer" \
            "./usr/share/doc/fieldsync/OPERATIONS.md"; do
  grep -Eq -- "$want" <<<"$contents" || die "missing: $want"
done

tmp=$(mktemp -d)
installed_by_us=0
log=$tmp/apt.log
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_quiet() { # apt-get args...; prints apt's output only when it fails
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@" >"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; return 1; }
}
cleanup() {
  if [ "$installed_by_us" = 1 ]; then
    apt_quiet purge fieldsync || echo "test-deb: could not purge fieldsync: run apt-get purge fieldsync" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

dpkg-deb -x "$deb" "$tmp/x"
"$tmp/x/usr/bin/fieldsync" version | grep -q '^fieldsync ' || die "packaged binary does not run"

# --- installed for real -------------------------------------------------------
[ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null || die "installing needs root or password-less sudo"
exec 9>/tmp/fieldsync-test-deb.lock
flock -w 900 9 || die "another test-deb.sh holds /tmp/fieldsync-test-deb.lock"
status() { dpkg-query -W -f='${Status} ${Version}' fieldsync 2>/dev/null || true; }
case $(status) in
  "" | "unknown ok not-installed"*) ;;
  *) die "fieldsync is already installed here ($(status)); this test installs and purges it: apt-get purge fieldsync first" ;;
esac

FIELDSYNC_DEB_VERSION=0.0.1~old scripts/package-deb.sh >/dev/null
mv build/bin/fieldsync_0.0.1~old_amd64.deb "$tmp/"
# The user: a home of its own, no inherited XDG dirs, no Drill, the example
# collections that the package installs.
home=$tmp/home
mkdir -p "$home"
user() {
  env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 \
    FIELDSYNC_COLLECTIONS=/usr/share/doc/fieldsync/examples/collections.json /usr/bin/fieldsync "$@"
}
data=$home/.local/state/fieldsync

installed_by_us=1
apt_quiet install "$tmp/fieldsync_0.0.1~old_amd64.deb" || die "apt-get install of the old package failed"
[ "$(status)" = "install ok installed 0.0.1~old" ] || die "old package: dpkg says '$(status)'"
printf '%s\n' '{"site":"North pump","passed":true,"risk":"low","inspected_at":"2025-10-01T10:00:00Z"}' \
              '{"site":"South gate","passed":false,"risk":"high","defects":2,"inspected_at":"2025-10-02T11:30:00Z"}' >"$tmp/in.jsonl"
user import --collection inspections "$tmp/in.jsonl" >/dev/null || die "the old package's fieldsync could not import"
[ -f "$data/fieldsync.db" ] || die "no store at the default data dir $data"
before=$(user export --collection inspections | sort)
[ "$(wc -l <<<"$before")" -eq 2 ] || die "old package: export gave $(wc -l <<<"$before") records, want 2"

apt_quiet install "./$deb" || die "apt-get install of $deb over the old package failed"
[ "$(status)" = "install ok installed $version" ] || fail "upgrade: dpkg says '$(status)', want $version"
after=$(user export --collection inspections | sort) || fail "upgrade: export failed"
[ "$after" = "$before" ] || fail "upgrade: the records changed or went: before:
$before
after:
$after"
pending=$(user status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["pending"])') ||
  fail "upgrade: status --json failed"
[ "$pending" = 2 ] || fail "upgrade: $pending pending changes, want 2"

# The installed files.
[ "$(command -v fieldsync)" = /usr/bin/fieldsync ] || fail "fieldsync is not /usr/bin/fieldsync on PATH"
user version | grep -q '^fieldsync ' || fail "the installed fieldsync does not run"
for entry in /usr/share/applications/fieldsync.desktop /etc/xdg/autostart/fieldsync.desktop; do
  [ -f "$entry" ] || { fail "missing $entry"; continue; }
  out=$(desktop-file-validate "$entry" 2>&1) && [ -z "$out" ] || fail "$entry: $out"
  grep -qx 'Exec=fieldsync' "$entry" || fail "$entry: Exec is not fieldsync"
done
grep -qx 'X-GNOME-Autostart-enabled=true' /etc/xdg/autostart/fieldsync.desktop || fail "autostart entry is disabled"
[ -f /usr/share/icons/hicolor/512x512/apps/fieldsync.png ] || fail "the menu entry's icon is missing"
unit=/usr/lib/systemd/user/fieldsync-agent.service
mkdir -m 0700 "$tmp/run"
out=$(XDG_RUNTIME_DIR=$tmp/run systemd-analyze verify --user "$unit" 2>&1) && [ -z "$out" ] ||
  fail "systemd-analyze verify --user $unit (warnings count): $out"
for unit in /usr/lib/systemd/system/fieldsync-compact.timer /usr/lib/systemd/system/fieldsync-compact.service \
  /usr/lib/systemd/system/fieldsync-compact-json.timer /usr/lib/systemd/system/fieldsync-compact-json.service; do
  out=$(systemd-analyze verify "$unit" 2>&1) && [ -z "$out" ] ||
    fail "systemd-analyze verify $unit (warnings count): $out"
done
grep -qx 'ExecStart=/usr/bin/fieldsync compact --once' /usr/lib/systemd/system/fieldsync-compact.service ||
  fail "fieldsync-compact.service does not run fieldsync compact --once"
[ "$(systemctl is-enabled fieldsync-compact.timer 2>/dev/null)" != enabled ] ||
  fail "the package enabled fieldsync-compact.timer (IT enables it on one server)"
grep -qx 'ExecStart=/usr/bin/fieldsync compact --once --json-only' /usr/lib/systemd/system/fieldsync-compact-json.service ||
  fail "fieldsync-compact-json.service does not run fieldsync compact --once --json-only"
[ "$(systemctl is-enabled fieldsync-compact-json.timer 2>/dev/null)" != enabled ] ||
  fail "the package enabled fieldsync-compact-json.timer (IT enables it for a JSON fleet)"
# The ingester's timer and service (system units): verified, never enabled
# by the package, and the timer runs exactly `fieldsync ingest --once`.
for u in fieldsync-ingest.service fieldsync-ingest.timer; do
  out=$(systemd-analyze verify "/usr/lib/systemd/system/$u" 2>&1) && [ -z "$out" ] ||
    fail "systemd-analyze verify $u (warnings count): $out"
done
grep -qx 'ExecStart=/usr/bin/fieldsync ingest --once' /usr/lib/systemd/system/fieldsync-ingest.service ||
  fail "fieldsync-ingest.service does not run 'fieldsync ingest --once'"
[ ! -e /etc/systemd/system/timers.target.wants/fieldsync-ingest.timer ] || fail "the package enabled the ingest timer (IT enables it on servers)"
out=$(user ingest --once 2>&1) && fail "fieldsync ingest --once with no Drillbit succeeded: $out"
grep -q "no Drillbit is configured" <<<"$out" || fail "fieldsync ingest --once with no Drillbit: $out"
doctor=$(user doctor --json --data-dir "$tmp/doctor-data") || fail "fieldsync doctor exited non-zero"
python3 - "$doctor" <<'PY' || fail "fieldsync doctor's report: $doctor"
import json, sys
checks = {c["name"]: c for c in json.loads(sys.argv[1])}
for name in ("settings", "data dir", "credentials", "schedule", "collections", "store"):
    assert checks[name]["status"] == "ok", (name, checks[name])
assert checks["drill"]["status"] == "warn" and "no Drillbit" in checks["drill"]["detail"], checks["drill"]
PY

# Remove, then purge: nothing of the package may stay.
files=$(dpkg -L fieldsync)
apt_quiet remove fieldsync || fail "apt-get remove failed"
[[ $(status) == "deinstall ok config-files"* ]] || fail "after remove: dpkg says '$(status)', want config-files"
[ ! -e /usr/bin/fieldsync ] || fail "after remove: /usr/bin/fieldsync is still there"
[ -f /etc/xdg/autostart/fieldsync.desktop ] || fail "after remove: the autostart conffile went (only purge removes it)"
apt_quiet purge fieldsync || fail "apt-get purge failed"
installed_by_us=0
case $(status) in "" | "unknown ok not-installed"*) ;; *) fail "after purge: dpkg says '$(status)'" ;; esac
while IFS= read -r f; do
  if [[ $f == *fieldsync* ]] && [ -e "$f" ]; then fail "after purge: $f is still there"; fi
done <<<"$files"
[ -f "$data/fieldsync.db" ] || fail "purge deleted the user's data (it is not the package's)"

[ "$errors" -eq 0 ] || { echo "test-deb: $errors failure(s)" >&2; exit 1; }
echo "test-deb: $deb ok ($(du -h "$deb" | cut -f1)): installed, upgraded from 0.0.1~old with the data kept, doctor, systemd units verified, removed, purged"
