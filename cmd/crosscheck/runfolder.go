package main

import (
	"os"
	"path/filepath"
)

// runFolder is the run folder of a `cases import` argument: the folder
// itself, or the folder that holds the given hits file.
func runFolder(hits string) string {
	if st, err := os.Stat(hits); err == nil && st.IsDir() {
		return hits
	}
	return filepath.Dir(hits)
}
