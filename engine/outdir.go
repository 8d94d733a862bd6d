package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/crosscheck/crosscheck/rundir"
)

// WorkDir is the temporary folder inside the output folder that the
// files of this run go to until they are committed.
func (p *Prepared) WorkDir() string { return p.out }

// CommitFiles moves the files written into WorkDir into the output
// folder, manifest.json last, for commands other than a screening run
// (`crosscheck link`): the manifest names the kind of output, the engine
// version, the job and the files with size and SHA-256.
func (p *Prepared) CommitFiles(kind string) error {
	outs, err := rundir.List(p.out)
	if err != nil {
		return err
	}
	m := map[string]any{"format_version": rundir.FormatVersion, "kind": kind, "engine_version": Version,
		"job_file": p.Job.File, "started": p.Result.Started.UTC().Format(time.RFC3339), "outputs": outs}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return p.run.Commit(outs, append(b, '\n'))
}

// RejectedDir is the folder inside the output folder where a run stopped
// by the quarantine guard leaves its quarantine files, so that the rows it
// refused can be read; the output folder itself keeps the previous run.
// The next rejected run replaces it and the next successful run removes
// it.
const RejectedDir = ".crosscheck-rejected"

// keepRejected moves the quarantine folder of a rejected run to
// RejectedDir and returns where it went ("" when there was nothing).
func keepRejected(run *rundir.Run, qdir string) string {
	if _, err := os.Stat(qdir); err != nil {
		return ""
	}
	dst := filepath.Join(run.Dir, RejectedDir)
	if err := os.RemoveAll(dst); err != nil {
		return ""
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return ""
	}
	to := filepath.Join(dst, "quarantine")
	if err := os.Rename(qdir, to); err != nil {
		return ""
	}
	return to
}
