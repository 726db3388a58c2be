// Package config loads fieldsync's settings.
//
// Settings come in layers, each overriding the one before:
//
//  1. built-in defaults (Default);
//  2. the user's file (UserFile, or the file named by --config);
//  3. the machine-wide managed file that IT deploys (ManagedFile): a value
//     set there wins over the user's, so a fleet can be configured centrally;
//  4. environment variables FIELDSYNC_* (see Env);
//  5. command-line flags, applied by the caller.
//
// Files are JSON; unknown keys are rejected with the file and key named, so a
// typo never silently turns a setting off. The Drill password is never in a
// file: it lives in the OS keyring (see Secrets).
package config
