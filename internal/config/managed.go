package config

import "strings"

// managedFileFor returns where IT deploys the machine-wide settings file on
// goos, reading the environment through getenv (os.Getenv in production):
// %ProgramData%\fieldsync\config.json on Windows, /etc/fieldsync/config.json
// everywhere else. When ProgramData is unset (a bare service environment) it
// falls back to %SystemDrive%\ProgramData, then C:\ProgramData, so the path
// is never relative to the working directory. Windows paths are built with
// backslashes by hand so that the result is the same when tested on Linux.
func managedFileFor(goos string, getenv func(string) string) string {
	if goos != "windows" {
		return "/etc/fieldsync/config.json"
	}
	dir := strings.TrimRight(getenv("ProgramData"), `\/`)
	if dir == "" {
		drive := strings.TrimRight(getenv("SystemDrive"), `\/`)
		if drive == "" {
			drive = "C:"
		}
		dir = drive + `\ProgramData`
	}
	return dir + `\fieldsync\config.json`
}
