; fieldsync's Windows installer (NSIS 3.08+). Built on Linux by
; scripts/package-windows.sh (`make windows`); checked by
; scripts/test-windows.sh, which reads this file: keep the behaviours below.
;
; Install, per machine, as an administrator:
;   fieldsync_<version>_amd64_setup.exe                   the wizard
;   fieldsync_<version>_amd64_setup.exe /S                silent
;   fieldsync_<version>_amd64_setup.exe /S /NOAUTOSTART   silent, no start at login
;   fieldsync_<version>_amd64_setup.exe /S /D=D:\Apps\fieldsync   another folder
;                                                         (/D last, no quotes)
; It installs fieldsync.exe, docs and uninstall.exe into
; %ProgramFiles%\fieldsync, a Start-menu entry for all users, the Apps &
; features entry and, unless /NOAUTOSTART, the HKLM Run value "fieldsync"
; that starts fieldsync at every user's login. Running it again upgrades in
; place (same folder); pass /NOAUTOSTART again to keep autostart off.
;
; Uninstall:
;   "%ProgramFiles%\fieldsync\uninstall.exe" /S           silent; keeps every
;                                                         user's data
;   "%ProgramFiles%\fieldsync\uninstall.exe" /S /PURGE    silent; also deletes
;                                                         every user's data
;
; Defines (makensis -D...): VERSION (x.y.z), EXE (fieldsync.exe, signed
; already), OUTFILE, DOCS (a folder installed as $INSTDIR\docs), ICON;
; optional WEBVIEW2_SETUP (Microsoft's WebView2 bootstrapper, run when the
; runtime is missing) and SIGN (a command signing, in place, the file named
; by its last argument: the installer and the uninstaller are signed with it).

Unicode true
ManifestDPIAware true
RequestExecutionLevel admin
SetCompressor /SOLID lzma

!include MUI2.nsh
!include LogicLib.nsh
!include FileFunc.nsh
!include Sections.nsh
!include x64.nsh
!include WinVer.nsh

!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\fieldsync"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define WEBVIEW2_KEY "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define PROFILES_KEY "SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"

!ifndef VERSION
  !error "define VERSION (see the top of this file)"
!endif
!ifndef EXE
  !error "define EXE (see the top of this file)"
!endif
!ifndef OUTFILE
  !error "define OUTFILE (see the top of this file)"
!endif
!ifndef DOCS
  !error "define DOCS (see the top of this file)"
!endif
!ifndef ICON
  !error "define ICON (see the top of this file)"
!endif

!ifdef SIGN
  !finalize '${SIGN} "%1"' = 0
  !uninstfinalize '${SIGN} "%1"' = 0
!endif

Name "fieldsync"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\fieldsync"
ShowInstDetails show
ShowUninstDetails show
BrandingText "fieldsync ${VERSION}"

VIProductVersion "${VERSION}.0"
VIFileVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "fieldsync"
VIAddVersionKey "CompanyName" "fieldsync"
VIAddVersionKey "FileDescription" "fieldsync installer"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "fieldsync maintainers"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_NODESC
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; --- install ---------------------------------------------------------------

Section "fieldsync" SEC_APP
  SectionIn RO
  SetShellVarContext all
  SetRegView 64
  SetOutPath "$INSTDIR"
  ; A running fieldsync (started at login, hidden in the background) holds
  ; its exe open. Windows lets a running exe be renamed, so an upgrade never
  ; stops anyone's sync: the new exe runs from their next start.
  ${If} ${FileExists} "$INSTDIR\fieldsync.exe"
    Delete "$INSTDIR\fieldsync.old.exe"
    Rename "$INSTDIR\fieldsync.exe" "$INSTDIR\fieldsync.old.exe"
    Delete /REBOOTOK "$INSTDIR\fieldsync.old.exe"
  ${EndIf}
  File "/oname=fieldsync.exe" "${EXE}"
  SetOutPath "$INSTDIR\docs"
  File /r "${DOCS}\*.*"
  SetOutPath "$INSTDIR"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\fieldsync.lnk" "$INSTDIR\fieldsync.exe" "" "$INSTDIR\fieldsync.exe" 0 SW_SHOWNORMAL "" "Capture records offline and sync them to Apache Drill"

  ; Autostart is written back by its own section unless /NOAUTOSTART.
  DeleteRegValue HKLM "${RUN_KEY}" "fieldsync"

  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "fieldsync"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "fieldsync"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\fieldsync.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKLM "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

Section "-WebView2 runtime" SEC_WEBVIEW2
!ifdef WEBVIEW2_SETUP
  SetRegView 64
  ReadRegStr $0 HKLM "${WEBVIEW2_KEY}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    DetailPrint "Installing the Microsoft Edge WebView2 runtime (downloaded by Microsoft's bootstrapper)"
    InitPluginsDir
    File "/oname=$PLUGINSDIR\MicrosoftEdgeWebview2Setup.exe" "${WEBVIEW2_SETUP}"
    ExecWait '"$PLUGINSDIR\MicrosoftEdgeWebview2Setup.exe" /silent /install' $1
    DetailPrint "WebView2 bootstrapper exit code: $1"
  ${EndIf}
!endif
SectionEnd

Section "Start fieldsync at login (all users)" SEC_AUTOSTART
  SetRegView 64
  WriteRegStr HKLM "${RUN_KEY}" "fieldsync" '"$INSTDIR\fieldsync.exe"'
SectionEnd

Function .onInit
  ${IfNot} ${RunningX64}
  ${OrIfNot} ${AtLeastWin10}
    MessageBox MB_OK|MB_ICONSTOP "fieldsync needs 64-bit Windows 10 or later." /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/NOAUTOSTART" $R1
  ${IfNot} ${Errors}
    !insertmacro UnselectSection ${SEC_AUTOSTART}
  ${EndIf}
  ; An upgrade goes where the last install went, unless /D= says otherwise.
  ReadRegStr $R2 HKLM "${UNINST_KEY}" "InstallLocation"
  ${If} $R2 != ""
  ${AndIf} $INSTDIR == "$PROGRAMFILES64\fieldsync"
    StrCpy $INSTDIR $R2
  ${EndIf}
FunctionEnd

; --- uninstall -------------------------------------------------------------

Section "un.fieldsync" SEC_UNAPP
  SectionIn RO
  SetShellVarContext all
  SetRegView 64
  ; Stop every running fieldsync so its exe can go. The journal is
  ; crash-safe, so nothing already saved is lost.
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM fieldsync.exe'
  Pop $0
  DeleteRegValue HKLM "${RUN_KEY}" "fieldsync"
  Delete "$SMPROGRAMS\fieldsync.lnk"
  Delete /REBOOTOK "$INSTDIR\fieldsync.exe"
  Delete /REBOOTOK "$INSTDIR\fieldsync.old.exe"
  RMDir /r "$INSTDIR\docs"
  Delete "$INSTDIR\uninstall.exe"
  ; Not /r: never delete what someone else put in the folder.
  RMDir /REBOOTOK "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
  ; User data is kept: %APPDATA%\fieldsync (journal, settings, logs) and
  ; %LOCALAPPDATA%\fieldsync (webview) of every user, the password in each
  ; user's Credential Manager, IT's %ProgramData%\fieldsync. /PURGE deletes
  ; the first two.
SectionEnd

Section /o "un.Delete every user's fieldsync data (changes not yet synced are lost)" SEC_PURGE
  SetRegView 64
  ; This user's folders, wherever they are redirected to ...
  SetShellVarContext current
  RMDir /r "$APPDATA\fieldsync"
  RMDir /r "$LOCALAPPDATA\fieldsync"
  ; ... and every profile's, at their default places.
  StrCpy $0 0
  ${Do}
    EnumRegKey $1 HKLM "${PROFILES_KEY}" $0
    ${IfThen} $1 == "" ${|} ${ExitDo} ${|}
    ReadRegStr $2 HKLM "${PROFILES_KEY}\$1" "ProfileImagePath"
    ExpandEnvStrings $2 $2
    ${If} $2 != ""
      RMDir /r "$2\AppData\Roaming\fieldsync"
      RMDir /r "$2\AppData\Local\fieldsync"
    ${EndIf}
    IntOp $0 $0 + 1
  ${Loop}
SectionEnd

Function un.onInit
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/PURGE" $R1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${SEC_PURGE}
  ${EndIf}
FunctionEnd
