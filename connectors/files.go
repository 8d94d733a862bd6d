package connectors

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Files expands a file source's path: a glob, or one file name (which
// may contain glob characters literally). No match is an error naming the
// source and the path; matches are sorted so a source reads its files in
// the same order every run.
func Files(source, pattern string) ([]string, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("source %s: path %s: %w", source, pattern, err)
	}
	if len(files) == 0 {
		if _, err := os.Stat(pattern); err != nil {
			return nil, fmt.Errorf("source %s: file %s: %w", source, pattern, os.ErrNotExist)
		}
		files = []string{pattern}
	}
	sort.Strings(files)
	return files, nil
}

// truncated is a fatal error whose chain held io.EOF (an empty or cut
// gzip stream, a short zip part, a damaged footer).
type truncated struct{ err error }

func (e truncated) Error() string { return e.err.Error() }
func (e truncated) Unwrap() error { return io.ErrUnexpectedEOF }

// Fatal prepares an error for Reader.Next: callers take io.EOF as the
// clean end of the data, so an error whose chain holds io.EOF has that
// link replaced by io.ErrUnexpectedEOF. Other errors pass unchanged.
func Fatal(err error) error {
	if err != nil && err != io.EOF && errors.Is(err, io.EOF) {
		return truncated{err}
	}
	return err
}
