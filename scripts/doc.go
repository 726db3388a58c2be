// Package scripts holds no code: the development and test scripts beside
// this file are shell, and the tests of this package check how they behave.
package scripts
