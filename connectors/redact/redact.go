// Package redact keeps credentials out of the errors of the database
// connectors: driver messages may quote the DSN, and errors end up in
// logs and on terminals.
package redact

import (
	"context"
	"errors"
	"regexp"
	"strings"
)

var (
	urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
	kvPassword  = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	dsnPassword = regexp.MustCompile(`([^:@/\s]+:)[^@\s]*@(tcp|unix|\()`)
)

// Message removes the given secrets (passwords, whole DSNs), URL
// passwords (scheme://user:pw@), key=value passwords (password=…) and
// Go MySQL DSN passwords (user:pw@tcp(…)) from msg.
func Message(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	msg = urlPassword.ReplaceAllString(msg, "${1}xxxxx@")
	msg = kvPassword.ReplaceAllString(msg, "${1}xxxxx")
	return dsnPassword.ReplaceAllString(msg, "${1}xxxxx@${2}")
}

// Error is an error whose text has been cleaned of credentials. It keeps
// context cancellation visible to errors.Is but does not unwrap to the
// driver's error, whose text may hold the DSN.
type Error struct {
	Msg   string
	cause error
}

// NewError returns an Error with the message msg (already redacted) whose
// cause is the context's error when err came from cancellation.
func NewError(ctx context.Context, msg string, err error) *Error {
	return &Error{Msg: msg, cause: Cause(ctx, err)}
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.cause }

// Cause returns the context's error when the failure came from
// cancellation, so callers can tell a cancelled run from a broken source,
// and nil otherwise.
func Cause(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}
