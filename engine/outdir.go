package engine

import (
	"encoding/json"
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
