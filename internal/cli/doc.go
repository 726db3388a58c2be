// Package cli is fieldsync's command line: it parses arguments, builds the
// logger, store, Drill client and agent from the settings, and runs one
// subcommand (or the desktop window when there is none). Each subcommand has
// a file of its own; Main only maps a command's error to an exit code.
package cli
