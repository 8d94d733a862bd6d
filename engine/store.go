package engine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/rundir"
	"github.com/crosscheck/crosscheck/schema"
)

// The reference store (docs/store.md) is a DuckDB file holding the
// canonical tables of every role but payment, after ID repair and
// linkage, the linkage model, the program catalogue, the job it was
// refreshed from and its manifest. `store refresh` is its only writer; it
// builds the next version beside the store and renames it into place, so
// a refresh killed half-way leaves the previous store.

// ChangeAll is the table_name of a change-log row that stands for every
// person (schema.StoreChangeAll).
const ChangeAll = schema.StoreChangeAll

// RefreshOptions tune a store refresh.
type RefreshOptions struct {
	Registry *connectors.Registry
	Log      *slog.Logger
	Progress io.Writer
	// Force rebuilds even when no input changed.
	Force bool
	// Watermarks, per source with a watermark_column, make its pull start
	// after that value (the batch run's state); RefreshResult.Watermarks
	// has where they ended.
	Watermarks map[string]string
	// Rejected, when set, is called with the quarantine folder of a
	// refresh stopped by the quarantine guard before the folder is removed,
	// and returns the error to report (the batch run keeps the rows in its
	// output folder).
	Rejected func(qdir string, err error) error
	// StageDone, when set, is called at the end of each stage (check,
	// load, identity, store) after its wall time is taken.
	StageDone func(stage string)
	// session, set by Run only, is the batch run's in-memory database:
	// the store is built in it for the run's screening, not written to
	// the file (path only names the lock and the quarantine folder).
	session *Session
	// batch, set by Run only: the linkage of a batch run (the job's
	// identity.threshold and identity.model, see linkPersons).
	batch bool
}

// RefreshResult summarises a refresh.
type RefreshResult struct {
	Store string
	// Seq is the store's refresh sequence after the refresh.
	Seq int64
	// Unchanged: no file and no database source changed; the store was
	// left as it was.
	Unchanged bool
	Sources   []*mapping.Stats
	// FilesLoaded counts the input files (or database tables) read; FilesKept
	// those unchanged since the last refresh.
	FilesLoaded, FilesKept int
	// ChangedPersons counts the persons in the change log of this refresh
	// (-1: every person, the first refresh).
	ChangedPersons int64
	// Pulls says, per source with a watermark_column loaded, from which
	// watermark it was pulled and how many rows came (store_watermark.go).
	Pulls []WatermarkPull
	// InPlace: the next version was the previous store changed in place
	// (an incremental refresh with a saved model), not rebuilt.
	InPlace bool
	// Direct: InPlace on the store file itself; false when InPlace worked
	// on a copy because another process had the store open.
	Direct   bool
	Identity *identity.Summary
	Elapsed  time.Duration
	PeakRSS  int64
	// Watermarks: per source with a watermark_column, the watermark its
	// pull reached.
	Watermarks map[string]string
	// Timings are the wall times of the refresh's stages.
	Timings []Timing
}

// referenceJob is j without its payment sources: what a store holds.
func referenceJob(j *job.Job) *job.Job {
	jj := *j
	jj.Sources = nil
	for _, s := range j.Sources {
		if r, err := j.SourceRole(s); err == nil && r.Name == "payment" {
			continue
		}
		jj.Sources = append(jj.Sources, s)
	}
	return &jj
}

// StoreQuarantineDir is where a refresh leaves the rejected rows of the
// reference sources: beside the store.
func StoreQuarantineDir(store string) string { return store + ".quarantine" }

type fileHash struct {
	source, role, path, sha string
	bytes                   int64
	// mtime is the file's modification time (Unix ns) recorded with its
	// hash; 0 when it is too recent to vouch for the content (racyFile).
	mtime int64
}

// racyFile is how recent a file's modification time may be, against the
// start of the refresh that hashes it, for that time to stand for its
// content at the next refresh: a file written again within the
// filesystem's timestamp granularity after it was hashed could keep its
// size and time with another content, so such a file is recorded without
// its time and hashed again next time.
const racyFile = 2 * time.Second

// hashInputs hashes every input file of the planned sources; database
// sources (whose header path is no file) are listed without a hash. A
// file whose size and modification time (ns) equal those recorded at the
// previous refresh (prev, keyed source\x00path) keeps the hash recorded
// then, unless rehash (--force).
func hashInputs(ctx context.Context, plans []planned, prev map[string]fileHash, started time.Time, rehash bool) ([]fileHash, error) {
	var out []fileHash
	for _, p := range plans {
		hdrs, err := p.conn.Headers(ctx)
		if err != nil {
			return nil, err
		}
		for _, h := range hdrs {
			fh := fileHash{source: p.src.Name, role: p.role.Name, path: h.Path}
			if st, err := os.Stat(h.Path); err == nil && st.Mode().IsRegular() {
				fh.bytes, fh.mtime = st.Size(), st.ModTime().UnixNano()
				if pf, ok := prev[p.src.Name+"\x00"+h.Path]; ok && !rehash && pf.sha != "" && pf.mtime != 0 &&
					pf.mtime == fh.mtime && pf.bytes == fh.bytes {
					fh.sha = pf.sha
				} else {
					sum, err := rundir.HashFile(h.Path)
					if err != nil {
						return nil, err
					}
					fh.sha = sum
				}
				if !st.ModTime().Before(started.Add(-racyFile)) {
					fh.mtime = 0
				}
			}
			out = append(out, fh)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].source != out[b].source {
			return out[a].source < out[b].source
		}
		return out[a].path < out[b].path
	})
	return out, nil
}

// RefreshStore brings the store at path up to date with the job's
// reference sources (every source but the payment rolls).
func RefreshStore(ctx context.Context, j *job.Job, path string, opt RefreshOptions) (*RefreshResult, error) {
	started := time.Now()
	log, reg := withDefaults(opt.Log, opt.Registry)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	path = abs
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockStore(path)
	if err != nil {
		return nil, err
	}
	defer unlock()

	res := &RefreshResult{Store: path, Watermarks: map[string]string{}}
	stage := func(name string, t0 time.Time) {
		if opt.batch && name != "store" {
			// the batch run's stages give the Go heap back (see Prepare)
			debug.FreeOSMemory()
		}
		res.Timings = append(res.Timings, Timing{Stage: name, Seconds: time.Since(t0).Seconds()})
		if opt.StageDone != nil {
			opt.StageDone(name)
		}
	}
	t0 := time.Now()
	rj := referenceJob(j)
	if _, err := compileRules(ctx, j); err != nil {
		return nil, err
	}
	plans, err := plan(ctx, rj, reg)
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		if inc, ok := incremental(p); ok {
			inc.SetWatermark(opt.Watermarks[p.src.Name])
		}
	}

	// The previous store, if any: its sequence and file hashes.
	var prevSeq int64
	prevFiles := map[string]fileHash{} // source\x00path → sha, size and time
	hasPrev := false
	var prevYAML, prevVersion string
	if _, err := os.Stat(path); err == nil {
		hasPrev = true
		prevSeq, prevFiles, prevYAML, prevVersion, err = readStoreFiles(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
	}
	th := time.Now()
	hashes, err := hashInputs(ctx, plans, prevFiles, started, opt.Force)
	if err != nil {
		return nil, err
	}
	log.Info("store: input files hashed", "files", len(hashes), "seconds", time.Since(th).Seconds())
	hasDB := false
	for _, p := range plans {
		if _, ok := incremental(p); ok {
			hasDB = true
		}
	}
	for _, h := range hashes {
		if h.sha == "" {
			hasDB = true
		}
	}
	same := hasPrev && len(prevFiles) == len(hashes)
	for _, h := range hashes {
		if s, ok := prevFiles[h.source+"\x00"+h.path]; !ok || s.sha != h.sha {
			same = false
		} else {
			res.FilesKept++
		}
	}
	if same && !hasDB && !opt.Force {
		res.Unchanged, res.Seq, res.Elapsed = true, prevSeq, time.Since(started)
		log.Info("store: no reference file changed", "store", path, "seq", prevSeq)
		return res, nil
	}
	seq := prevSeq + 1
	res.Seq = seq

	// Which sources to load: those with a new, changed or removed file and
	// the database sources; the others are copied from the previous store.
	// Everything is loaded on the first refresh, with --force, after a
	// change of the job or the engine, and when the person registry
	// changed (ID confirmation and repair of every record rest on it).
	changedSrc := map[string]bool{}
	cur := map[string]bool{}
	for _, h := range hashes {
		cur[h.source+"\x00"+h.path] = true
		if s, ok := prevFiles[h.source+"\x00"+h.path]; !ok || s.sha != h.sha || h.sha == "" {
			changedSrc[h.source] = true
		}
	}
	for k := range prevFiles {
		if !cur[k] {
			changedSrc[strings.SplitN(k, "\x00", 2)[0]] = true
		}
	}
	yml, _ := os.ReadFile(j.File)
	full := !hasPrev || opt.Force || string(yml) != prevYAML || prevVersion != Version
	for _, p := range plans {
		if _, ok := incremental(p); ok {
			changedSrc[p.src.Name] = true
		}
		if changedSrc[p.src.Name] && p.role.Name == "person" {
			full = true
		}
	}
	loadPlans := plans
	if !full {
		loadPlans = nil
		for _, p := range plans {
			if changedSrc[p.src.Name] {
				loadPlans = append(loadPlans, p)
			}
		}
	}

	// Database sources with a watermark recorded are pulled from it.
	appends, err := planAppends(ctx, path, hasPrev, full, loadPlans)
	if err != nil {
		return nil, err
	}

	// The next version is built beside the store and renamed into place:
	// on an incremental refresh with a saved model, from a copy of the
	// store changed in place (store_inplace.go). A refresh that appends
	// rows pulled by watermark rebuilds the next version (appendPrevious
	// copies the source's previous rows).
	tmp := path + ".next"
	work, prevRows := inPlaceWork(path), inPlacePrev(path)
	for _, p := range []string{tmp, tmp + ".wal", work, work + ".wal", prevRows, prevRows + ".wal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	// DuckDB's spill folder of a killed in-place refresh
	if err := os.RemoveAll(work + ".tmp"); err != nil {
		return nil, err
	}
	qdir := StoreQuarantineDir(path) + ".next"
	if err := os.RemoveAll(qdir); err != nil {
		return nil, err
	}
	inPlace := false
	if !full && len(appends) == 0 {
		if inPlace, err = canRefreshInPlace(ctx, path); err != nil {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
	}
	res.InPlace = inPlace
	ej := rj.Engine
	sess := opt.session
	// direct: the store file itself is changed (store_inplace.go), when no
	// other process has it open; else the in-place refresh changes a copy.
	direct := false
	if inPlace && sess == nil {
		t0 := time.Now()
		if sess, err = openDirect(ctx, ej, path); err != nil {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
		direct = sess != nil
		log.Info("store: opened in place", "direct", direct, "seconds", time.Since(t0).Seconds())
	}
	res.Direct = direct
	if inPlace && !direct {
		t0 := time.Now()
		if err := copyFile(path, tmp); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("store: copy %s: %w", path, err)
		}
		log.Info("store: previous store copied (a reader has it open)", "seconds", time.Since(t0).Seconds())
	}
	ej.Database = tmp
	if sess == nil {
		if sess, err = Open(ctx, ej); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			if opt.session == nil {
				// direct: the session never checkpoints, so closing it
				// leaves the store as it was (its changes are only in
				// the work name's WAL, removed below).
				sess.Close()
			}
			for _, p := range []string{tmp, tmp + ".wal", work, work + ".wal", prevRows, prevRows + ".wal"} {
				os.Remove(p)
			}
			os.RemoveAll(qdir)
		}
	}()
	roles := referenceRoles(rj)
	if direct {
		t0 := time.Now()
		if err := sess.keepLoaded(ctx, roles, loadPlans, prevRows); err != nil {
			return nil, fmt.Errorf("store %s: keep the loaded sources' rows: %w", path, err)
		}
		log.Info("store: loaded sources' previous rows kept for the change log", "seconds", time.Since(t0).Seconds())
	}
	if inPlace {
		err = sess.clearLoaded(ctx, roles, loadPlans)
	} else {
		err = sess.createTables(ctx, roles)
	}
	if err != nil {
		return nil, err
	}
	workers := j.Engine.Threads
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	stage("check", t0)
	t0 = time.Now()
	stats, err := sess.loadSources(ctx, loadPlans, qdir, j.Output.RawIDs, workers, log, opt.Progress)
	if err != nil {
		return nil, err
	}
	res.Sources = stats
	if nothingPulled(full, loadPlans, appends, stats) {
		res.Unchanged, res.Seq, res.Elapsed = true, prevSeq, time.Since(started)
		log.Info("store: no new row of the database sources and no file changed", "store", path, "seq", prevSeq)
		return res, nil
	}
	res.FilesLoaded = 0
	for _, h := range hashes {
		if !full && !changedSrc[h.source] {
			continue
		}
		res.FilesLoaded++
	}
	res.FilesKept = len(hashes) - res.FilesLoaded
	warnQuarantine(log, stats)
	if err := checkQuarantine(rj, stats); err != nil {
		if opt.Rejected != nil {
			err = opt.Rejected(qdir, err)
		}
		return nil, err
	}
	if hasPrev && !direct {
		if err := sess.Exec(ctx, fmt.Sprintf("ATTACH %s AS prev (READ_ONLY)", Lit(path))); err != nil {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
	}
	// Incremental linkage: the registry did not change (a registry change
	// makes the refresh full) and the previous store has a saved model, so
	// the copied records keep their links and only the loaded records are
	// linked, with that model (identity.LinkRecords).
	relinkLoaded := false
	if direct {
		// canRefreshInPlace found the model; the store lock kept it.
		relinkLoaded = true
	} else if !full {
		if relinkLoaded, err = sess.prevHasModel(ctx); err != nil {
			return nil, err
		}
		if inPlace && !relinkLoaded {
			return nil, fmt.Errorf("store %s: the saved linkage model disappeared during the refresh", path)
		}
	}
	var kept []string
	if !full {
		// The _rid of a loaded source is what a full load gives it (its
		// position among the job's sources), so that linkage samples the
		// same records.
		for k, p := range loadPlans {
			i := indexOfPlan(plans, p.src.Name)
			if i != k {
				if err := sess.Exec(ctx, fmt.Sprintf("UPDATE %s SET _rid = _rid - %d + %d WHERE _source = %s",
					Ident(Table(p.role)), int64(k+1)<<40, int64(i+1)<<40, Lit(p.src.Name))); err != nil {
					return nil, err
				}
			}
		}
		for _, p := range plans {
			if !changedSrc[p.src.Name] {
				kept = append(kept, p.src.Name)
			}
		}
		if inPlace {
			// the kept rows are in the copied store
			err = copyQuarantine(kept, StoreQuarantineDir(path), qdir)
		} else {
			err = sess.copyKept(ctx, roles, kept, !relinkLoaded, StoreQuarantineDir(path), qdir)
		}
		if err != nil {
			return nil, fmt.Errorf("store: copy the unchanged sources: %w", err)
		}
		if err := sess.appendPrevious(ctx, plans, loadPlans, appends, !relinkLoaded, StoreQuarantineDir(path), qdir); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	log.Info("store: sources loaded", "loaded", len(loadPlans), "kept", len(kept), "seconds", time.Since(t0).Seconds())
	var marks [][2]string
	for _, p := range plans {
		if inc, ok := incremental(p); ok {
			marks = append(marks, [2]string{p.src.Name, inc.Watermark()})
			res.Watermarks[p.src.Name] = inc.Watermark()
		}
	}
	stage("load", t0)

	t0 = time.Now()
	if _, err := sess.confirmExcelIDs(ctx, roles); err != nil {
		return nil, fmt.Errorf("ID check against the registry: %w", err)
	}
	if _, err := sess.repairIDs(ctx, roles); err != nil {
		return nil, fmt.Errorf("ID repair: %w", err)
	}
	// The loaded sources' tables: the only ones re-linked, re-sorted and
	// compared for the change log on an incremental link.
	loadedTables := map[string]bool{}
	for _, p := range loadPlans {
		loadedTables[Table(p.role)] = true
	}
	// Duplicates are counted for the loaded sources only (their stats):
	// the other tables are not scanned.
	var dupRoles []dataset.Role
	for _, r := range roles {
		if loadedTables[schema.Table(r)] {
			dupRoles = append(dupRoles, r)
		}
	}
	if err := sess.countDuplicates(ctx, dupRoles, stats); err != nil {
		return nil, err
	}
	loadedNames := changedNames(loadPlans)
	regFP := registryFingerprint(hashes, yml)
	if relinkLoaded {
		sum, err := sess.linkLoaded(ctx, roles, plans, loadPlans, appends, inPlace, regFP, log)
		if err != nil {
			return nil, fmt.Errorf("identity resolution: %w", err)
		}
		res.Identity = sum
		log.Info("store: identity resolved (loaded records linked with the saved model)", "seconds", time.Since(t0).Seconds())
	} else {
		var sum *identity.Summary
		icfg := identity.Config{Log: log, CacheRegistry: opt.session == nil}
		if icfg.CacheRegistry {
			icfg.RegistryFingerprint = regFP
		}
		if opt.batch {
			// the batch run's linkage: identity.model as the job says
			sum, err = linkPersons(ctx, sess, j, icfg, log)
		} else {
			sum, err = identity.Link(ctx, sess.DB, icfg)
			if err != nil {
				err = fmt.Errorf("identity resolution: %w", err)
			}
		}
		if err != nil && !errors.Is(err, identity.ErrNoTables) {
			return nil, err
		}
		res.Identity = sum
		if err := sess.applyLinks(ctx, roles); err != nil {
			return nil, fmt.Errorf("identity resolution: %w", err)
		}
		log.Info("store: identity resolved (every record re-linked)", "seconds", time.Since(t0).Seconds())
	}
	if _, err := sess.buildCatalogue(ctx, j); err != nil {
		return nil, fmt.Errorf("program catalogue: %w", err)
	}
	// engine.compress: the batch run's in-memory tables are compressed
	// once, now that they are linked (Session.Checkpoint; nothing for a
	// store file, compressed anyway).
	if opt.session != nil {
		if err := sess.Checkpoint(ctx, log, "identity"); err != nil {
			return nil, fmt.Errorf("compress the linked tables: %w", err)
		}
	}
	stage("identity", t0)
	t0 = time.Now()
	// Point lookups (screen's Check) read few row groups when the
	// reference tables are in person_key order (DuckDB's zonemaps).
	for _, r := range roles {
		if opt.session != nil {
			break // no point lookups in the batch run's database
		}
		if !hasPersonKey(r) || (relinkLoaded && !loadedTables[schema.Table(r)]) {
			// A table with no loaded source was copied in the previous
			// store's order.
			continue
		}
		t := Ident(schema.Table(r))
		if err := sess.Exec(ctx, fmt.Sprintf(`CREATE OR REPLACE TABLE %s AS SELECT * FROM %s ORDER BY person_key NULLS LAST, _rid`, t, t)); err != nil {
			return nil, err
		}
	}

	log.Info("store: reference tables sorted", "seconds", time.Since(t0).Seconds())
	if direct {
		// the store's tables are changed, in its work log only
		rundir.Step("store.changed")
	}
	// The manifest: history of the previous store, then this refresh.
	if err := sess.Exec(ctx, schema.StoreDDL()...); err != nil {
		return nil, err
	}
	// A store copied in place from one written before store_file had the
	// files' modification times.
	if err := sess.Exec(ctx, "ALTER TABLE "+schema.StoreFile+" ADD COLUMN IF NOT EXISTS mtime_ns BIGINT"); err != nil {
		return nil, err
	}
	if hasPrev {
		for _, t := range schema.StoreTables[1:] { // all but store_job
			if inPlace {
				break // the copied store holds its history
			}
			if err := sess.Exec(ctx, fmt.Sprintf("INSERT INTO %s BY NAME SELECT * FROM prev.%s", t, t)); err != nil {
				return nil, err
			}
		}
		var only map[string]bool
		var onlySources []string
		if relinkLoaded {
			// The copied rows are the previous store's: only the loaded
			// sources' rows can differ.
			only, onlySources = loadedTables, loadedNames
		}
		n, err := sess.logChanges(ctx, seq, roles, only, onlySources)
		if err != nil {
			return nil, fmt.Errorf("change log: %w", err)
		}
		res.ChangedPersons = n
		log.Info("store: change log written", "persons", n, "seconds", time.Since(t0).Seconds())
		if err := sess.Exec(ctx, "DETACH prev"); err != nil {
			return nil, err
		}
	} else {
		res.ChangedPersons = -1
		if err := sess.Exec(ctx, fmt.Sprintf("INSERT INTO store_change VALUES (%d, NULL, %s, 0, 0)", seq, Lit(ChangeAll))); err != nil {
			return nil, err
		}
	}
	if err := sess.writeStoreManifest(ctx, j, seq, started, hashes, stats, marks, res); err != nil {
		return nil, err
	}
	if res.Pulls, err = sess.recordPulls(ctx, seq, plans, loadPlans, appends, stats); err != nil {
		return nil, err
	}
	if len(kept) > 0 {
		// The counts of the kept files are those of the refresh that loaded them.
		if err := sess.Exec(ctx, fmt.Sprintf(`UPDATE store_file SET rows_accepted = p.rows_accepted, rows_quarantined = p.rows_quarantined
			FROM store_file p WHERE store_file.seq = %d AND p.seq = %d AND p.source = store_file.source AND p.path = store_file.path
				AND list_contains(%s, store_file.source)`, seq, prevSeq, sqlList(kept))); err != nil {
			return nil, err
		}
	}
	relinked := "all"
	if relinkLoaded {
		relinked = "loaded: " + strings.Join(loadedNames, ", ")
	} else if !full {
		relinked = "all (loaded: " + strings.Join(loadedNames, ", ") + ")"
	}
	if err := sess.Exec(ctx, fmt.Sprintf("UPDATE store_refresh SET relinked = %s WHERE seq = %d", Lit(relinked), seq)); err != nil {
		return nil, err
	}
	if opt.session != nil {
		// The batch run's database: the store stays in it, unwritten.
		ok = true
		oldQ := StoreQuarantineDir(path)
		if err := os.RemoveAll(oldQ); err != nil {
			return nil, err
		}
		if _, err := os.Stat(qdir); err == nil {
			if err := os.Rename(qdir, oldQ); err != nil {
				return nil, err
			}
		}
		stage("store", t0)
		res.Elapsed = time.Since(started)
		return res, nil
	}
	if direct {
		if err := commitDirect(ctx, sess, path, qdir, log); err != nil {
			return nil, err
		}
		ok = true
		for _, p := range []string{work, work + ".wal", prevRows, prevRows + ".wal"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		if err := syncPath(filepath.Dir(path)); err != nil {
			return nil, err
		}
		stage("store", t0)
		res.Elapsed = time.Since(started)
		res.PeakRSS = PeakRSS()
		log.Info("store: refreshed in place", "store", path, "seq", seq, "seconds", res.Elapsed.Seconds())
		return res, nil
	}
	rundir.Step("store.built")
	if err := sess.Close(); err != nil {
		return nil, err
	}
	if err := syncPath(tmp); err != nil {
		return nil, err
	}
	rundir.Step("store.synced")
	// The quarantine folder first (it describes the new store), then the
	// store itself: one rename is the commit.
	oldQ := StoreQuarantineDir(path)
	if err := os.RemoveAll(oldQ); err != nil {
		return nil, err
	}
	if _, err := os.Stat(qdir); err == nil {
		if err := os.Rename(qdir, oldQ); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	ok = true
	if err := syncPath(filepath.Dir(path)); err != nil {
		return nil, err
	}
	rundir.Step("store.renamed")
	stage("store", t0)
	res.Elapsed = time.Since(started)
	res.PeakRSS = PeakRSS()
	log.Info("store: refreshed", "store", path, "seq", seq, "seconds", res.Elapsed.Seconds())
	return res, nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// referenceRoles are the roles of rj's sources plus every built-in role
// but payment (empty tables for the rules that read them).
func referenceRoles(rj *job.Job) []dataset.Role {
	var out []dataset.Role
	for _, r := range rolesOf(rj) {
		if r.Name != "payment" {
			out = append(out, r)
		}
	}
	return out
}

// readStoreFiles reads the sequence, the files (hash, size and
// modification time, keyed source\x00path), the job text and the engine
// version of the last refresh of a store. A store written before
// store_file had mtime_ns gives no times (every file is hashed).
func readStoreFiles(ctx context.Context, path string) (seq int64, files map[string]fileHash, yml, version string, err error) {
	db, err := openStoreRead(ctx, path)
	if err != nil {
		return 0, nil, "", "", err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM store.store_refresh").Scan(&seq); err != nil {
		return 0, nil, "", "", err
	}
	_ = db.QueryRowContext(ctx, "SELECT job_yaml FROM store.store_job").Scan(&yml)
	_ = db.QueryRowContext(ctx, "SELECT engine_version FROM store.store_refresh WHERE seq = ?", seq).Scan(&version)
	mtime := "0"
	var hasMtime bool
	if err := db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM duckdb_columns() WHERE database_name = 'store' AND schema_name = 'main'
		AND table_name = 'store_file' AND column_name = 'mtime_ns'`).Scan(&hasMtime); err != nil {
		return 0, nil, "", "", err
	}
	if hasMtime {
		mtime = "mtime_ns"
	}
	rows, err := db.QueryContext(ctx, "SELECT source, path, coalesce(sha256, ''), coalesce(bytes, 0), coalesce("+mtime+", 0) FROM store.store_file WHERE seq = ?", seq)
	if err != nil {
		return 0, nil, "", "", err
	}
	defer rows.Close()
	files = map[string]fileHash{}
	for rows.Next() {
		var f fileHash
		if err := rows.Scan(&f.source, &f.path, &f.sha, &f.bytes, &f.mtime); err != nil {
			return 0, nil, "", "", err
		}
		files[f.source+"\x00"+f.path] = f
	}
	return seq, files, yml, version, rows.Err()
}

func indexOfPlan(plans []planned, name string) int {
	for i, p := range plans {
		if p.src.Name == name {
			return i
		}
	}
	return -1
}

func changedNames(plans []planned) []string {
	var out []string
	for _, p := range plans {
		out = append(out, p.src.Name)
	}
	return out
}

func sqlList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = Lit(v)
	}
	return "[" + strings.Join(q, ", ") + "]::VARCHAR[]"
}

// copyKept copies the rows of the kept sources from the previous store
// (attached as prev) as a load would give them before linkage: records
// linked by probability lose that link (linkage runs again on every
// record) unless unlinkProbabilistic is false (only the loaded records
// are linked), ID confirmations and repairs stay (the registry they rest
// on is unchanged). Their quarantine files come along.
func (s *Session) copyKept(ctx context.Context, roles []dataset.Role, kept []string, unlinkProbabilistic bool, oldQ, newQ string) error {
	if len(kept) == 0 {
		return nil
	}
	in := sqlList(kept)
	for _, r := range roles {
		t := Ident(schema.Table(r))
		exists, err := s.hasTable(ctx, "prev", schema.Table(r))
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		sel := "*"
		if hasPersonKey(r) && unlinkProbabilistic {
			sel = `* REPLACE (CASE WHEN link_method = 'probabilistic' THEN NULL ELSE person_key END AS person_key,
				CASE WHEN link_method = 'probabilistic' THEN NULL ELSE link_method END AS link_method)`
		}
		if err := s.Exec(ctx, fmt.Sprintf("INSERT INTO %s BY NAME SELECT %s FROM prev.%s WHERE list_contains(%s, _source)", t, sel, t, in)); err != nil {
			return err
		}
	}
	return copyQuarantine(kept, oldQ, newQ)
}

// openStoreRead opens an in-memory DuckDB with the store attached
// read-only as "store".
func openStoreRead(ctx context.Context, path string) (*sql.DB, error) {
	s, err := Open(ctx, job.Engine{Database: ":memory:", Threads: 1})
	if err != nil {
		return nil, err
	}
	if err := s.AttachStore(ctx, path, "store", nil); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s.DB, nil
}

// logChanges writes the change log of refresh seq: per reference table
// and person key, the rows added and removed against the previous store
// (attached as prev). Rows are compared without _rid and _row, so a row
// moved within its file is no change. It returns the number of distinct
// persons changed.
//
// When only is set, the tables not in it are not compared (they are the
// previous store's rows, copied) and the rows compared are those of the
// sources named in onlySources.
func (s *Session) logChanges(ctx context.Context, seq int64, roles []dataset.Role, only map[string]bool, onlySources []string) (int64, error) {
	for _, r := range roles {
		if !hasPersonKey(r) {
			continue
		}
		t := schema.Table(r)
		if only != nil && !only[t] {
			continue
		}
		where := ""
		if only != nil {
			where = " WHERE list_contains(" + sqlList(onlySources) + ", _source)"
		}
		sameLayout, err := s.sameColumns(ctx, t)
		if err != nil {
			return 0, err
		}
		if !sameLayout {
			if err := s.Exec(ctx, fmt.Sprintf("INSERT INTO store_change VALUES (%d, NULL, %s, 0, 0)", seq, Lit(ChangeAll))); err != nil {
				return 0, err
			}
			continue
		}
		cols := "* EXCLUDE (_rid, _row)"
		q := fmt.Sprintf(`INSERT INTO store_change
			SELECT %[1]d, person_key, %[2]s, sum(a), sum(r) FROM (
				SELECT person_key, 1 AS a, 0 AS r FROM (SELECT %[3]s FROM main.%[4]s%[5]s EXCEPT ALL SELECT %[3]s FROM prev.%[4]s%[5]s)
				UNION ALL
				SELECT person_key, 0, 1 FROM (SELECT %[3]s FROM prev.%[4]s%[5]s EXCEPT ALL SELECT %[3]s FROM main.%[4]s%[5]s))
			WHERE person_key IS NOT NULL GROUP BY person_key ORDER BY person_key`, seq, Lit(t), cols, Ident(t), where)
		if err := s.Exec(ctx, q); err != nil {
			return 0, err
		}
	}
	var n int64
	err := s.DB.QueryRowContext(ctx, "SELECT count(DISTINCT person_key) FROM store_change WHERE seq = ?", seq).Scan(&n)
	return n, err
}

// sameColumns reports whether main.t and prev.t have the same columns.
func (s *Session) sameColumns(ctx context.Context, t string) (bool, error) {
	q := `SELECT string_agg(column_name || ' ' || data_type, ',' ORDER BY column_index) FROM duckdb_columns()
		WHERE database_name = ? AND schema_name = 'main' AND table_name = ?`
	var a, b sql.NullString
	if err := s.DB.QueryRowContext(ctx, q, "prev", t).Scan(&b); err != nil {
		return false, err
	}
	if err := s.DB.QueryRowContext(ctx, q, currentDB(ctx, s), t).Scan(&a); err != nil {
		return false, err
	}
	return a.Valid && b.Valid && a.String == b.String, nil
}

func currentDB(ctx context.Context, s *Session) string {
	var n string
	_ = s.DB.QueryRowContext(ctx, "SELECT current_database()").Scan(&n)
	return n
}

func (s *Session) writeStoreManifest(ctx context.Context, j *job.Job, seq int64, started time.Time, hashes []fileHash,
	stats []*mapping.Stats, marks [][2]string, res *RefreshResult) error {
	yml, err := os.ReadFile(j.File)
	if err != nil {
		return fmt.Errorf("store: read the job file: %w", err)
	}
	jb, _ := json.Marshal(j)
	stmts := []string{"DELETE FROM store_job", fmt.Sprintf("INSERT INTO store_job VALUES (%s, %s, %s, %s)",
		Lit(j.File), Lit(j.Dir), Lit(string(yml)), Lit(string(jb)))}
	byPath := map[string]connectors.Input{}
	bySource := map[string]*mapping.Stats{}
	var rows int64
	for _, st := range stats {
		bySource[st.Source] = st
		rows += st.RowsAccepted
		for _, in := range st.Inputs {
			byPath[st.Source+"\x00"+in.Path] = in
		}
	}
	for _, h := range hashes {
		st := bySource[h.source]
		var acc, quar int64
		if st != nil {
			// Per-file counts are not kept by the loader: a source's
			// counts go to its first file.
			if len(st.Inputs) <= 1 || (len(st.Inputs) > 0 && st.Inputs[0].Path == h.path) {
				acc, quar = st.RowsAccepted, st.RowsQuarantined
			}
		}
		sha := h.sha
		if in, ok := byPath[h.source+"\x00"+h.path]; ok && sha == "" {
			sha = in.SHA256
		}
		mtime := "NULL"
		if h.mtime != 0 {
			mtime = fmt.Sprint(h.mtime)
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO store_file (seq, source, role, path, sha256, bytes, rows_accepted, rows_quarantined, mtime_ns)
			VALUES (%d, %s, %s, %s, %s, %d, %d, %d, %s)`, seq, Lit(h.source), Lit(h.role), Lit(h.path), Lit(sha), h.bytes, acc, quar, mtime))
	}
	for _, m := range marks {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO store_watermark (seq, source, watermark) VALUES (%d, %s, %s)", seq, Lit(m[0]), Lit(m[1])))
	}
	counts := map[string]int64{}
	for _, st := range stats {
		counts[st.Source] = st.RowsAccepted
	}
	cb, _ := json.Marshal(counts)
	stmts = append(stmts, fmt.Sprintf(`INSERT INTO store_refresh VALUES (%d, %s::TIMESTAMP, now()::TIMESTAMP, %s, %d, %d, %d, %d, 'all', %s)`,
		seq, Lit(started.UTC().Format("2006-01-02 15:04:05.000000")), Lit(Version), len(hashes), res.FilesKept, rows, res.ChangedPersons, Lit(string(cb))))
	return s.Exec(ctx, stmts...)
}

// StoreInfo is the manifest of a store.
type StoreInfo struct {
	Path      string            `json:"path"`
	Seq       int64             `json:"seq"`
	JobFile   string            `json:"job_file"`
	Refreshes []StoreRefresh    `json:"refreshes"`
	Files     []StoreFile       `json:"files"`
	Marks     map[string]string `json:"watermarks,omitempty"`
	// Pulls are the pulls of the sources with a watermark_column in the last refresh.
	Pulls   []WatermarkPull    `json:"pulls,omitempty"`
	Tables  map[string]int64   `json:"tables"`
	Changes map[int64]int64    `json:"changed_persons_by_seq"`
	Model   map[string]float64 `json:"-"`
}

// StoreRefresh is one refresh of a store.
type StoreRefresh struct {
	Seq            int64     `json:"seq"`
	Started        time.Time `json:"started"`
	Finished       time.Time `json:"finished"`
	Rows           int64     `json:"rows"`
	FilesLoaded    int64     `json:"files_loaded"`
	FilesKept      int64     `json:"files_kept"`
	ChangedPersons int64     `json:"changed_persons"`
}

// StoreFile is one input file of the last refresh.
type StoreFile struct {
	Source          string `json:"source"`
	Role            string `json:"role"`
	Path            string `json:"path"`
	SHA256          string `json:"sha256"`
	Bytes           int64  `json:"bytes"`
	RowsAccepted    int64  `json:"rows_accepted"`
	RowsQuarantined int64  `json:"rows_quarantined"`
	Seq             int64  `json:"seq"`
}

// ReadStoreInfo reads a store's manifest.
func ReadStoreInfo(ctx context.Context, path string) (*StoreInfo, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	db, err := openStoreRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	in := &StoreInfo{Path: path, Marks: map[string]string{}, Tables: map[string]int64{}, Changes: map[int64]int64{}}
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM store.store_refresh").Scan(&in.Seq); err != nil {
		return nil, fmt.Errorf("store %s: not a crosscheck store: %w", path, err)
	}
	_ = db.QueryRowContext(ctx, "SELECT job_file FROM store.store_job").Scan(&in.JobFile)
	rows, err := db.QueryContext(ctx, `SELECT seq, started, finished, rows, files_loaded, files_kept, changed_persons FROM store.store_refresh ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r StoreRefresh
		if err := rows.Scan(&r.Seq, &r.Started, &r.Finished, &r.Rows, &r.FilesLoaded, &r.FilesKept, &r.ChangedPersons); err != nil {
			rows.Close()
			return nil, err
		}
		in.Refreshes = append(in.Refreshes, r)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT source, role, path, sha256, bytes, rows_accepted, rows_quarantined, seq FROM store.store_file WHERE seq = ? ORDER BY source, path`, in.Seq)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f StoreFile
		if err := rows.Scan(&f.Source, &f.Role, &f.Path, &f.SHA256, &f.Bytes, &f.RowsAccepted, &f.RowsQuarantined, &f.Seq); err != nil {
			rows.Close()
			return nil, err
		}
		in.Files = append(in.Files, f)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT source, watermark FROM store.store_watermark WHERE seq = ?`, in.Seq)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s, w string
		if err := rows.Scan(&s, &w); err != nil {
			rows.Close()
			return nil, err
		}
		in.Marks[s] = w
	}
	rows.Close()
	in.Pulls = readPulls(ctx, db, in.Seq)
	rows, err = db.QueryContext(ctx, `SELECT table_name, estimated_size FROM duckdb_tables() WHERE database_name = 'store' AND NOT starts_with(table_name, 'store_') ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			rows.Close()
			return nil, err
		}
		in.Tables[t] = n
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT seq, CASE WHEN bool_or(table_name = '*') THEN -1 ELSE count(DISTINCT person_key) END FROM store.store_change GROUP BY seq`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s, n int64
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return nil, err
		}
		in.Changes[s] = n
	}
	rows.Close()
	return in, rows.Err()
}

// registryFingerprint stands for the person registry's content in the
// store (identity.Config.RegistryFingerprint): a hash of the engine
// version, the job file and the registry sources' files (source, path,
// SHA-256), which the registry table is made from. It is "" when a
// registry file has no hash (database source): the registry is then
// fingerprinted by reading its rows.
func registryFingerprint(hashes []fileHash, yml []byte) string {
	var files []string
	for _, h := range hashes {
		if h.role != "person" {
			continue
		}
		if h.sha == "" {
			return ""
		}
		files = append(files, h.source+"\x00"+h.path+"\x00"+h.sha)
	}
	if len(files) == 0 {
		return ""
	}
	sort.Strings(files)
	d := sha256.New()
	fmt.Fprintf(d, "%s\x00%d\x00", Version, len(yml))
	d.Write(yml)
	for _, f := range files {
		fmt.Fprintf(d, "\x00%s", f)
	}
	return "files:" + hex.EncodeToString(d.Sum(nil))
}

// prevHasModel reports whether the previous store (attached as prev) holds
// the links and the saved linkage model an incremental link starts from.
func (s *Session) prevHasModel(ctx context.Context) (bool, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = 'prev' AND schema_name = 'main'
		AND table_name IN (?, ?, ?)`, identity.TableLink, identity.TableCandidate, identity.TableInfo).Scan(&n); err != nil {
		return false, err
	}
	if n < 3 {
		return false, nil
	}
	var has bool
	err := s.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) > 0 FROM prev.%s WHERE key = 'model'", identity.TableInfo)).Scan(&has)
	return has, err
}

// linkLoaded links the records of the loaded sources with the previous
// store's saved model and keeps every other link: person_link and
// person_link_candidate are copied from prev without the rows of the
// loaded sources (their _rid range is the source's position among the
// job's sources, as in prev), the model, its info and the prepared
// registry (person_link_ref) as they are; then identity.LinkRecords links
// the loaded records of each table and their rows take their links.
//
// inPlace: the session's database is a copy of the previous store, whose
// links and model are already there; only the loaded sources' links are
// deleted.
//
// regFP is the registry's fingerprint (registryFingerprint): the prepared
// registry cached under it in person_link_ref is read as it is.
func (s *Session) linkLoaded(ctx context.Context, roles []dataset.Role, plans, loadPlans []planned, appends map[string]*appendPull, inPlace bool, regFP string, log *slog.Logger) (*identity.Summary, error) {
	var drop []string
	byTable := map[string][]string{} // table → conditions on the rows to link
	var tables []string
	for _, p := range loadPlans {
		t := Table(p.role)
		d, relink := linkDrop(t, p.src.Name, indexOfPlan(plans, p.src.Name), appends[p.src.Name])
		drop = append(drop, d)
		if _, ok := byTable[t]; !ok {
			tables = append(tables, t)
		}
		byTable[t] = append(byTable[t], relink)
	}
	keep := "true"
	if len(drop) > 0 {
		keep = "NOT (" + strings.Join(drop, " OR ") + ")"
	}
	stmts := []string{fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM prev.%s WHERE %s", identity.TableLink, identity.TableLink, keep),
		fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM prev.%s WHERE %s", identity.TableCandidate, identity.TableCandidate, keep)}
	copied := []string{identity.TableModel, identity.TableInfo, identity.TableRef}
	if inPlace {
		stmts = []string{fmt.Sprintf("DELETE FROM %s WHERE NOT (%s)", identity.TableLink, keep),
			fmt.Sprintf("DELETE FROM %s WHERE NOT (%s)", identity.TableCandidate, keep)}
		copied = nil
	}
	for _, t := range copied {
		exists, err := s.hasTable(ctx, "prev", t)
		if err != nil {
			return nil, err
		}
		if exists {
			stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM prev.%s", t, t))
		}
	}
	if err := s.Exec(ctx, stmts...); err != nil {
		return nil, err
	}
	total := &identity.Summary{ByMethod: map[string]int64{}, ByTable: map[string]map[string]int64{}, Reused: true}
	for _, t := range tables {
		ok, err := s.linkableTable(ctx, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		rids := fmt.Sprintf("SELECT _rid FROM %s WHERE %s", Ident(t), strings.Join(byTable[t], " OR "))
		sum, err := identity.LinkRecords(ctx, s.DB, identity.Config{Log: log, CacheRegistry: true, RegistryFingerprint: regFP}, t, rids)
		if err != nil {
			return nil, err
		}
		total.Tables = append(total.Tables, t)
		total.Registry, total.Threshold = sum.Registry, sum.Threshold
		total.Records += sum.Records
		total.Ambiguous += sum.Ambiguous
		total.Pairs += sum.Pairs
		total.RegistryCached = sum.RegistryCached
		for k, v := range sum.ByMethod {
			total.ByMethod[k] += v
		}
		for tb, m := range sum.ByTable {
			if total.ByTable[tb] == nil {
				total.ByTable[tb] = map[string]int64{}
			}
			for k, v := range m {
				total.ByTable[tb][k] += v
			}
		}
	}
	var loaded []string
	for _, p := range loadPlans {
		loaded = append(loaded, p.src.Name)
	}
	var lr []dataset.Role
	for _, r := range roles {
		if _, ok := byTable[schema.Table(r)]; ok {
			lr = append(lr, r)
		}
	}
	if err := s.applyLinksWhere(ctx, lr, "list_contains("+sqlList(loaded)+", $t._source)"); err != nil {
		return nil, err
	}
	return total, nil
}

// linkableTable reports whether table t has the columns identity links
// records by.
func (s *Session) linkableTable(ctx context.Context, t string) (bool, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT count(DISTINCT column_name) FROM duckdb_columns() WHERE database_name = current_database()
		AND schema_name = 'main' AND table_name = ? AND column_name IN ('_rid', 'id_number', 'id_number_status', 'person_key', 'name_norm')`, t).Scan(&n)
	return n == 5, err
}
