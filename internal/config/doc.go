// Package config loads fieldsync's settings.
//
// Settings come in layers, each overriding the one before:
//
//  1. built-in defaults (Default);
//  2. the user's file (UserFile, or the file named by --config);
//  3. environment variables FIELDSYNC_* (see EnvNames);
//  4. command-line flags, applied by the caller;
//  5. the machine-wide managed file that IT deploys (ManagedFile). What it
//     sets is locked: the user's file and the app cannot change it, and a
//     variable or flag that tries to is refused with a *LockedError naming
//     IT's file (the caller checks flags with CheckLocked).
//
// Origins tells, for each key, which layer its value came from, in words
// people read on the Settings screen, in `fieldsync settings` and in
// `fieldsync doctor`.
//
// Files are JSON; unknown keys are rejected with the file and key named, so a
// typo never silently turns a setting off. The Drill password is never in a
// file: it lives in the OS keyring (see Secrets).
package config
