// Package cli is fieldsync's command line, and only that: it parses
// arguments and settings, builds the logger and the application service
// (package service) and runs one subcommand over it, or the desktop window
// when there is none. Each subcommand has a file of its own; Main only maps
// a command's error to an exit code.
package cli
