#!/usr/bin/env bash
# test-windows.sh builds the Windows app and installer the way a release
# does (scripts/package-windows.sh), signed with a throwaway test CA made
# here with openssl, and checks them without Windows:
#   - the signatures of fieldsync.exe, the installer and the uninstaller
#     inside it verify against the test CA (and not against another CA);
#   - the exe is a 64-bit Windows GUI program with its icon, manifest and
#     version info; the installer holds it byte for byte, the uninstaller,
#     the docs and the WebView2 bootstrapper (listed with 7z);
#   - build/windows/installer/fieldsync.nsi does what docs/TESTING.md says
#     (silent, per machine, paths, registry, autostart opt-out, uninstall,
#     purge only when asked), read from its source.
# The binary cannot be run here: see docs/TESTING.md (wine).
# Needs frontend/dist built (make frontend). Leaves only build/bin/*.exe.
set -euo pipefail
cd "$(dirname "$0")/.."
nsi=build/windows/installer/fieldsync.nsi
errors=0
fail() { echo "test-windows: FAIL: $*" >&2; errors=$((errors + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the installer script, from its source -----------------------------------
# Comments are dropped so that a behaviour only described there does not count.
src=$(sed -e 's/^[[:space:]]*;.*$//' "$nsi")
has() { # description extended-regex
  grep -Eq -- "$2" <<<"$src" || fail "$nsi: $1 (no line matches: $2)"
}
# section NAME: the lines of one Section ... SectionEnd whose header matches NAME
section() { awk -v pat="$1" '/^Section /{on = ($0 ~ pat)} on {print} /^SectionEnd/{on = 0}' <<<"$src"; }
function_body() { awk -v pat="$1" '$0 ~ "^Function " pat "$" {on = 1} on {print} /^FunctionEnd/{on = 0}' <<<"$src"; }

has "per-machine install needs elevation" '^RequestExecutionLevel admin$'
has "installs into Program Files (64-bit)" '^InstallDir "\$PROGRAMFILES64\\fieldsync"$'
has "the upgrade finds the previous folder" 'ReadRegStr \$R2 HKLM "\$\{UNINST_KEY\}" "InstallLocation"'
has "the Run key is HKLM's" '^!define RUN_KEY "Software\\Microsoft\\Windows\\CurrentVersion\\Run"$'
has "the uninstall key" '^!define UNINST_KEY "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\fieldsync"$'

app=$(section 'SEC_APP$')
grep -q 'SetShellVarContext all' <<<"$app" || fail "install: Start menu entry is not for all users (SetShellVarContext all)"
grep -q 'SetRegView 64' <<<"$app" || fail "install: registry writes go to WOW6432Node (no SetRegView 64)"
grep -Fq 'File "/oname=fieldsync.exe" "${EXE}"' <<<"$app" || fail "install: fieldsync.exe is not installed"
grep -Fq 'WriteUninstaller "$INSTDIR\uninstall.exe"' <<<"$app" || fail "install: no uninstaller written"
grep -Fq 'CreateShortcut "$SMPROGRAMS\fieldsync.lnk" "$INSTDIR\fieldsync.exe"' <<<"$app" || fail "install: no Start-menu entry"
for value in DisplayName DisplayVersion Publisher InstallLocation UninstallString; do
  grep -Eq "WriteRegStr HKLM \"\\\$\{UNINST_KEY\}\" \"$value\"" <<<"$app" || fail "install: Apps & features lacks $value"
done
grep -Fq "WriteRegStr HKLM \"\${UNINST_KEY}\" \"QuietUninstallString\" '\"\$INSTDIR\\uninstall.exe\" /S'" <<<"$app" ||
  fail "install: QuietUninstallString is not the uninstaller with /S"
grep -Fq 'DeleteRegValue HKLM "${RUN_KEY}" "fieldsync"' <<<"$app" || fail "install: an upgrade with /NOAUTOSTART would keep the old Run value"

auto=$(section 'SEC_AUTOSTART$')
grep -q 'SetRegView 64' <<<"$auto" || fail "autostart: Run value would go to WOW6432Node"
grep -Fq "WriteRegStr HKLM \"\${RUN_KEY}\" \"fieldsync\" '\"\$INSTDIR\\fieldsync.exe\"'" <<<"$auto" || fail "autostart: no HKLM Run value"
grep -Eq '^Section "[^/]' <<<"$auto" || fail "autostart: must be on by default (not Section /o)"
oninit=$(function_body '\.onInit')
grep -Fq '${GetOptions} $R0 "/NOAUTOSTART" $R1' <<<"$oninit" || fail "/NOAUTOSTART is not read in .onInit"
grep -Fq '!insertmacro UnselectSection ${SEC_AUTOSTART}' <<<"$oninit" || fail "/NOAUTOSTART does not turn autostart off"

# Silent: NSIS takes /S by itself; nothing may ask a question in silent mode
# or turn silence off.
grep -Eq '^[[:space:]]*(SetSilent[[:space:]]+normal|SilentInstall[[:space:]]+silentlog|SilentUnInstall[[:space:]]+silentlog)' <<<"$src" &&
  fail "something turns silent mode off or changes it"
while IFS= read -r line; do
  grep -q '/SD ' <<<"$line" || fail "MessageBox without /SD blocks silent (un)install: $line"
done < <(grep -E '^[[:space:]]*MessageBox' <<<"$src")
grep -Eq '^[[:space:]]*(Exec|ExecWait|ExecShell|ExecShellWait|nsExec::Exec)[[:space:]].*\$INSTDIR\\fieldsync\.exe' <<<"$src" &&
  fail "the installer starts fieldsync (it would run elevated)"

unapp=$(section 'SEC_UNAPP$')
for want in 'SetRegView 64' 'DeleteRegValue HKLM "${RUN_KEY}" "fieldsync"' 'Delete "$SMPROGRAMS\fieldsync.lnk"' \
            'Delete /REBOOTOK "$INSTDIR\fieldsync.exe"' 'Delete "$INSTDIR\uninstall.exe"' 'DeleteRegKey HKLM "${UNINST_KEY}"' \
            'SetShellVarContext all'; do
  grep -Fq -- "$want" <<<"$unapp" || fail "uninstall: missing $want"
done
grep -Eq 'RMDir /r[^"]*"\$INSTDIR"' <<<"$src" && fail "uninstall: RMDir /r \$INSTDIR would delete what others put there"
purge=$(section 'SEC_PURGE$')
grep -Eq '^Section /o ' <<<"$purge" || fail "purge: must be off by default (Section /o): data is kept unless /PURGE"
for want in 'RMDir /r "$APPDATA\fieldsync"' 'RMDir /r "$LOCALAPPDATA\fieldsync"' 'AppData\Roaming\fieldsync' 'AppData\Local\fieldsync'; do
  grep -Fq -- "$want" <<<"$purge" || fail "purge: missing $want"
done
# User data is deleted nowhere else.
outside=$(awk '/^Section /{p = ($0 ~ /SEC_PURGE$/)} !p {print} /^SectionEnd/{p = 0}' <<<"$src")
grep -Eq 'APPDATA|AppData|ProgramData|PROFILES_KEY\}' <<<"$(grep -E '^[[:space:]]*(RMDir|Delete)' <<<"$outside")" &&
  fail "user data or managed settings deleted outside the purge section"
unoninit=$(function_body 'un\.onInit')
grep -Fq '${GetOptions} $R0 "/PURGE" $R1' <<<"$unoninit" || fail "/PURGE is not read in un.onInit"
grep -Fq '!insertmacro SelectSection ${SEC_PURGE}' <<<"$unoninit" || fail "/PURGE does not select the purge"

# --- a throwaway code-signing CA and certificate -------------------------------
ossl() { openssl "$@" >/dev/null 2>&1 || { echo "test-windows: openssl $1 failed" >&2; exit 1; }; }
ca_cert() { # dir name
  ossl req -x509 -newkey rsa:2048 -nodes -keyout "$1/$2.key" -out "$1/$2.pem" -days 2 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
ca_cert "$tmp" "fieldsync test CA"
ca_cert "$tmp" "another CA"
ossl req -newkey rsa:2048 -nodes -keyout "$tmp/signer.key" -out "$tmp/signer.csr" -subj "/CN=fieldsync test signer"
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >"$tmp/signer.ext"
ossl x509 -req -in "$tmp/signer.csr" -CA "$tmp/fieldsync test CA.pem" -CAkey "$tmp/fieldsync test CA.key" \
  -CAcreateserial -days 2 -extfile "$tmp/signer.ext" -out "$tmp/signer.pem"
password="test-$RANDOM-$RANDOM"
ossl pkcs12 -export -inkey "$tmp/signer.key" -in "$tmp/signer.pem" -certfile "$tmp/fieldsync test CA.pem" \
  -out "$tmp/signer.pfx" -passout "pass:$password"

# --- build, signed ------------------------------------------------------------
installer=$(FIELDSYNC_SIGN_PFX="$tmp/signer.pfx" FIELDSYNC_SIGN_PASSWORD="$password" scripts/package-windows.sh) ||
  { echo "test-windows: FAIL: package-windows.sh" >&2; exit 1; }
exe=build/bin/fieldsync.exe

# --- the exe -------------------------------------------------------------------
head -c2 "$exe" | grep -q '^MZ$' || fail "$exe is not a Windows executable"
# The PE header: machine AMD64 (0x8664) and subsystem GUI (2), so no console
# window flashes when fieldsync starts at login.
read -r machine subsystem < <(python3 - "$exe" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read(4096)
pe = struct.unpack_from('<I', b, 0x3c)[0]
machine = struct.unpack_from('<H', b, pe + 4)[0]
subsystem = struct.unpack_from('<H', b, pe + 24 + 68)[0]
print(hex(machine), subsystem)
PY
)
[ "$machine" = 0x8664 ] || fail "$exe: machine $machine, want 0x8664 (amd64)"
[ "$subsystem" = 2 ] || fail "$exe: subsystem $subsystem, want 2 (Windows GUI)"
resources=$(7z l "$exe" 2>/dev/null) || fail "7z cannot list $exe"
for want in MANIFEST/1 ICON/1 version.txt; do
  grep -Eq " \.rsrc/[0-9]+/$want\$" <<<"$resources" || fail "$exe: no resource $want (wails build embeds it from build/windows/)"
done
version=$(python3 -c 'import json; print(json.load(open("wails.json"))["info"]["productVersion"])')
7z e -y -o"$tmp/rsrc" "$exe" '.rsrc/*/version.txt' '.rsrc/*/MANIFEST/1' >/dev/null 2>&1 || fail "7z cannot extract $exe's resources"
iconv -f UTF-16LE -t UTF-8 "$tmp/rsrc/version.txt" 2>/dev/null | grep -Eq "\"ProductVersion\", +\"$version\"" || fail "$exe: version info lacks ProductVersion $version"
grep -q 'Microsoft.Windows.Common-Controls' "$tmp/rsrc/1" 2>/dev/null || fail "$exe: manifest lacks Common-Controls 6 (Wails' window needs it)"

# --- the installer's contents ---------------------------------------------------
listing=$(7z l "$installer" 2>/dev/null) || fail "7z cannot list $installer"
grep -q 'Type = Nsis' <<<"$listing" || fail "$installer is not an NSIS installer"
for want in ' fieldsync\.exe$' ' uninstall\.exe$' ' docs/README\.md$' ' docs/CONFIG\.md$' \
            ' docs/examples/collections\.json$' ' \$PLUGINSDIR/MicrosoftEdgeWebview2Setup\.exe$'; do
  grep -Eq -- "$want" <<<"$listing" || fail "$installer lacks${want%\$}"
done
mkdir "$tmp/x"
7z x -y -o"$tmp/x" "$installer" fieldsync.exe uninstall.exe >/dev/null 2>&1 || fail "7z cannot extract from $installer"
cmp -s "$exe" "$tmp/x/fieldsync.exe" || fail "the installer's fieldsync.exe is not the signed build/bin/fieldsync.exe"

# --- signatures ---------------------------------------------------------------
verify() { # file ca
  osslsigncode verify -CAfile "$2" -in "$1" 2>&1
}
for f in "$exe" "$installer" "$tmp/x/uninstall.exe"; do
  name=${f#"$tmp/x/"}
  if out=$(verify "$f" "$tmp/fieldsync test CA.pem") && grep -q '^Signature verification: ok' <<<"$out"; then
    grep -q 'Subject: /CN=fieldsync test signer' <<<"$out" || fail "$name: signed by someone else"
    echo "test-windows: $name: $(grep -m1 '^Signature verification' <<<"$out") ($(du -h "$f" | cut -f1))"
  else
    echo "$out" | tail -n 5 >&2; fail "$name: signature does not verify against the test CA"
  fi
  if verify "$f" "$tmp/another CA.pem" >/dev/null; then
    fail "$name: verifies against an unrelated CA too: the check proves nothing"
  fi
done

if [ "$errors" -gt 0 ]; then
  echo "test-windows: $errors failure(s)" >&2; exit 1
fi
echo "test-windows: $installer ok ($(du -h "$installer" | cut -f1); exe $(du -h "$exe" | cut -f1))"
