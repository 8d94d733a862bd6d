package casestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ManifestFormat is the newest run manifest format an import reads:
// version 1 is the manifest without "format_version" (engine.Manifest as
// first written), version 2 adds "format_version" and "outputs" (every
// file of the run folder with its size and SHA-256).
const ManifestFormat = 2

// manifest is the part of a run's manifest.json an import reads. It is
// decoded tolerantly: rule parameters keep whatever JSON type the rule
// language gives them (int, number, bool, text, list, column), and keys
// an import does not read are ignored, so that a manifest of any format
// version up to ManifestFormat is read.
type manifest struct {
	FormatVersion int    `json:"format_version"`
	RunID         string `json:"run_id"`
	EngineVersion string `json:"engine_version"`
	RuleSet       string `json:"rule_set_version"`
	Rules         []struct {
		ID      string         `json:"id"`
		Version string         `json:"version,omitempty"`
		Params  map[string]any `json:"params"`
	} `json:"rules"`
	Sources []struct {
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"sources"`
	Job struct {
		Periods  []string `json:"Periods"`
		Periods2 []string `json:"periods"`
	} `json:"job"`
	Hits    int64 `json:"hits"`
	Cases   int64 `json:"cases"`
	Outputs []struct {
		File string `json:"file"`
	} `json:"outputs"`
}

// parseManifest decodes a manifest.json of any known format version.
func parseManifest(b []byte) (*manifest, error) {
	m := &manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, err
	}
	if m.FormatVersion == 0 {
		m.FormatVersion = 1
	}
	if m.FormatVersion > ManifestFormat {
		return nil, fmt.Errorf("%w: manifest format version %d is newer than this crosscheck reads (%d): import with a newer crosscheck",
			ErrInvalid, m.FormatVersion, ManifestFormat)
	}
	if m.RunID == "" {
		return nil, fmt.Errorf("%w: manifest has no run_id", ErrInvalid)
	}
	if len(m.Job.Periods) == 0 {
		m.Job.Periods = m.Job.Periods2
	}
	return m, nil
}

func readManifest(hits, path string) (*manifest, error) {
	explicit := path != ""
	if !explicit {
		path = filepath.Join(filepath.Dir(hits), "manifest.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := parseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// RunFiles returns the hits file and the manifest of a run folder (the
// --out of "crosscheck run"). The folder must hold both: a folder without
// its manifest is not a finished run. Whether every file the manifest
// lists is complete is checked by rundir.Verify before an import.
func RunFiles(dir string) (hits, manifestPath string, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", "", fmt.Errorf("run folder: %w", err)
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("%w: %s is not a folder: give the run's output folder (crosscheck run --out), or --hits FILE", ErrInvalid, dir)
	}
	manifestPath = filepath.Join(dir, "manifest.json")
	if _, err := os.Stat(manifestPath); err != nil {
		return "", "", fmt.Errorf("%w: %s has no manifest.json: not a finished run folder (运行目录不完整)", ErrInvalid, dir)
	}
	hits = filepath.Join(dir, "hits.parquet")
	if _, err := os.Stat(hits); err != nil {
		return "", "", fmt.Errorf("%w: %s has no hits.parquet (the run wrote no Parquet: add parquet to output.formats)", ErrInvalid, dir)
	}
	return hits, manifestPath, nil
}

// ImportRun imports the run in folder dir: its hits.parquet with the
// manifest.json beside it (see Import). A folder without both is refused.
func (s *Store) ImportRun(ctx context.Context, dir string, o ImportOptions) (*ImportResult, error) {
	hits, m, err := RunFiles(dir)
	if err != nil {
		return nil, err
	}
	o.Manifest, o.NoManifest = m, false
	return s.Import(ctx, hits, o)
}
