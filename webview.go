package main

import "path/filepath"

// webviewDataDir returns the folder the webview keeps its storage in
// (IndexedDB, local storage, caches), reading the environment through getenv
// (os.Getenv in production). It must not depend on the executable's name or
// place, so renaming or upgrading fieldsync.exe never loses it: Wails'
// default on Windows is %APPDATA%\<exe name>, and WebView2's own is next to
// the exe, which Program Files does not allow.
//
// On Windows it is %LOCALAPPDATA%\fieldsync\webview: local, not roaming,
// because WebView2 folders are large, hold locked files and are not meant to
// roam with a profile. Everywhere else, and on Windows when LOCALAPPDATA is
// unset, it is <dataDir>/webview (WebKitGTK ignores it and uses
// $XDG_DATA_HOME/fieldsync). Windows paths are joined with backslashes by hand
// so the result is the same when tested on Linux.
func webviewDataDir(goos, dataDir string, getenv func(string) string) string {
	if goos == "windows" {
		if local := getenv("LOCALAPPDATA"); local != "" {
			return local + `\fieldsync\webview`
		}
	}
	return filepath.Join(dataDir, "webview")
}
