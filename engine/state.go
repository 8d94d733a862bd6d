package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/report"
)

// State is what a job keeps between runs: the watermark of each
// incremental source (the highest value of its watermark_column pulled)
// and the figures of its last runs.
// It is written only after a run succeeded, so a failed run pulls the same
// rows again next time.
type State struct {
	Watermarks map[string]string `json:"watermarks"`
	// History lists the job's last runs (oldest first) for the trend in
	// the run report.
	History []report.Point `json:"history,omitempty"`
}

// StatePath is where a job's state lives: engine.state_file, or
// .NAME.state.json beside the job file.
func StatePath(j *job.Job) string {
	if j.Engine.StateFile != "" {
		return j.Resolve(j.Engine.StateFile)
	}
	return filepath.Join(j.Dir, "."+j.Name+".state.json")
}

func loadState(path string) (*State, error) {
	st := &State{Watermarks: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("run state %s: not valid JSON (delete it to pull every row again): %w", path, err)
	}
	if st.Watermarks == nil {
		st.Watermarks = map[string]string{}
	}
	return st, nil
}

func (st *State) save(path string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// A temporary file of its own: two runs of one job at once must not
	// write the same one.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("run state %s: %w", path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("run state %s: %w", path, err)
	}
	return nil
}

// incremental returns the source's connector as Incremental when the job
// asks for incremental pulls (a watermark_column option).
func incremental(p planned) (connectors.Incremental, bool) {
	if w, _ := p.src.Options["watermark_column"].(string); w == "" {
		return nil, false
	}
	inc, ok := p.conn.(connectors.Incremental)
	return inc, ok
}
