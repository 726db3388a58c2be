package service

import "errors"

// ErrInvalidInput is wrapped by every error the service returns for input it
// rejects (a locked setting, settings that do not validate, a password for
// settings that need none); nothing is changed when it is returned.
var ErrInvalidInput = errors.New("invalid input")
