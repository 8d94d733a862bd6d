//go:build !unix

package engine

// lockStore is a no-op where flock is missing: run one refresh at a time.
func lockStore(path string) (func(), error) { return func() {}, nil }
