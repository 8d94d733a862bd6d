// Package rundir owns the life of a run's output folder: which folders a
// run may write into, the lock that keeps a second run out, the temporary
// folder a run writes into, the swap that moves the finished files into
// place with manifest.json last, and Verify, which tells a complete run
// folder from anything else.
//
// A run folder is complete when manifest.json is there and every file its
// "outputs" list names has the listed size and SHA-256. The swap rolls
// forward from a commit record (CommitName): a run killed before it leaves
// the complete old run, one killed after it leaves a swap that the next
// Open or Verify completes, so that every crosscheck reader sees the
// complete old or the complete new run.
package rundir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// FormatVersion is the manifest format this package writes. Manifests
// without format_version are version 1 (no outputs list).
const FormatVersion = 2

// Names of the files this package manages inside a run folder.
const (
	// ManifestName is the run's manifest, written last.
	ManifestName = "manifest.json"
	// LockName is the lock file; it also marks the folder as crosscheck's.
	LockName = ".crosscheck.lock"
	// OwnedName lists every file crosscheck wrote into the folder that may
	// still be there (a superset during a swap): only these are ever
	// replaced or deleted.
	OwnedName = ".crosscheck-owned.json"
	// TmpPrefix starts the name of a run's temporary folder.
	TmpPrefix = ".crosscheck-tmp-"
)

// Output is one file a run wrote, as listed in manifest.json's "outputs".
type Output struct {
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Info is what Verify found in a complete run folder.
type Info struct {
	Dir           string
	FormatVersion int
	RunID         string
	// Kind is "run" for a screening run, "link" for `crosscheck link`.
	Kind    string
	Outputs []Output
	// Recovered tells that Verify completed a swap a killed run left
	// after its commit point.
	Recovered bool
}

// ErrIncomplete is returned (wrapped) by Verify for a folder that does not
// hold a complete run.
var ErrIncomplete = errors.New("run folder incomplete / 运行结果不完整")

// v1Files are the files a version-1 run wrote (besides quarantine/*.csv).
var v1Files = []string{"hits.parquet", "hits.csv", "cases.parquet", "cases.csv", "quality.json", "quality.md"}

type manifestHead struct {
	FormatVersion int      `json:"format_version"`
	RunID         string   `json:"run_id"`
	Kind          string   `json:"kind"`
	Outputs       []Output `json:"outputs"`
	Sources       []struct {
		Name string `json:"name"`
	} `json:"sources"`
}

func readHead(dir string) (*manifestHead, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	m := &manifestHead{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.FormatVersion == 0 {
		m.FormatVersion = 1
	}
	return m, nil
}

// Verify checks that dir holds a complete run: manifest.json parses and
// every listed output has its size and SHA-256. A version-1 manifest has
// no list; then hits.parquet must exist, be non-empty and carry the
// Parquet magic PAR1 at both ends.
//
// First, Verify takes the folder's lock for a moment: a folder a live run
// holds is refused (ErrLocked, naming the run); a swap a killed run left
// after its commit point is completed (Info.Recovered), so that the folder
// holds the complete new run.
func Verify(dir string) (*Info, error) {
	unlock, err := lockShortly(dir)
	if err != nil {
		return nil, err
	}
	recovered, err := recoverCommit(dir)
	unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %s 中断的替换无法完成 / the interrupted swap in %s cannot be completed (%v): run the job again",
			ErrIncomplete, dir, dir, err)
	}
	info, err := verify(dir)
	if info != nil {
		info.Recovered = recovered
	}
	return info, err
}

func verify(dir string) (*Info, error) {
	m, err := readHead(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s 中没有 manifest.json（运行未完成、被中断或不是 crosscheck 的输出文件夹）/ %s has no manifest.json (the run did not finish, was interrupted, or this is not a crosscheck output folder): run it again",
			ErrIncomplete, dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: manifest.json 无法解析 / cannot parse manifest.json: %v", ErrIncomplete, err)
	}
	info := &Info{Dir: dir, FormatVersion: m.FormatVersion, RunID: m.RunID, Kind: m.Kind, Outputs: m.Outputs}
	if info.Kind == "" {
		info.Kind = "run"
	}
	if m.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%w: manifest format_version %d is newer than this crosscheck understands (%d): upgrade crosscheck",
			ErrIncomplete, m.FormatVersion, FormatVersion)
	}
	if m.FormatVersion == 1 {
		if err := checkParquet(filepath.Join(dir, "hits.parquet")); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
		}
		return info, nil
	}
	for _, o := range m.Outputs {
		if err := checkName(o.File); err != nil {
			return nil, fmt.Errorf("%w: manifest.json: %v", ErrIncomplete, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(o.File))
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: 缺少文件 / missing file %s (listed in manifest.json): run again", ErrIncomplete, o.File)
		}
		if st.Size() != o.Bytes {
			return nil, fmt.Errorf("%w: %s 大小为 %d 字节，manifest.json 记录为 %d / %s has %d bytes, manifest.json says %d: the file was cut or changed after the run",
				ErrIncomplete, o.File, st.Size(), o.Bytes, o.File, st.Size(), o.Bytes)
		}
		sum, err := HashFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
		}
		if sum != o.SHA256 {
			return nil, fmt.Errorf("%w: %s 的 SHA-256 与 manifest.json 不符 / %s does not match its SHA-256 in manifest.json: the file was changed after the run",
				ErrIncomplete, o.File, o.File)
		}
	}
	return info, nil
}

// checkParquet checks a Parquet file's size and magic at both ends.
func checkParquet(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("缺少文件 / missing file %s", filepath.Base(p))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < 12 {
		return fmt.Errorf("%s 为空或被截断（%d 字节）/ %s is empty or cut (%d bytes)", filepath.Base(p), st.Size(), filepath.Base(p), st.Size())
	}
	head, tail := make([]byte, 4), make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(tail, st.Size()-4); err != nil {
		return err
	}
	if string(head) != "PAR1" || string(tail) != "PAR1" {
		return fmt.Errorf("%s 不是完整的 Parquet 文件 / %s is not a complete Parquet file (no PAR1 magic at both ends)", filepath.Base(p), filepath.Base(p))
	}
	return nil
}

// checkName refuses output names that would leave the run folder.
func checkName(name string) error {
	if name == "" || path.IsAbs(name) || strings.Contains(name, `\`) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("output name %q is not a plain relative path", name)
	}
	return nil
}

// HashFile is the hex SHA-256 of a file's contents: how run folders,
// the reference store's manifest and uploaded rolls name a file's version.
func HashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// List walks dir and returns every regular file below it except
// manifest.json, with size and SHA-256, sorted by name.
func List(dir string) ([]Output, error) {
	var outs []Output
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ManifestName {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		sum, err := HashFile(p)
		if err != nil {
			return err
		}
		outs = append(outs, Output{File: rel, Bytes: st.Size(), SHA256: sum})
		return nil
	})
	sort.Slice(outs, func(a, b int) bool { return outs[a].File < outs[b].File })
	return outs, err
}

// owned returns the files crosscheck wrote into dir, from the owned list
// and the manifest (for version-1 folders: the fixed names and one
// quarantine file per source).
func owned(dir string) (map[string]bool, error) {
	set := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(dir, OwnedName))
	switch {
	case err == nil:
		var names []string
		if err := json.Unmarshal(b, &names); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, OwnedName), err)
		}
		for _, n := range names {
			if checkName(n) == nil {
				set[n] = true
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	m, err := readHead(dir)
	if errors.Is(err, os.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, nil // an unreadable manifest claims nothing
	}
	if m.FormatVersion == 1 {
		for _, n := range v1Files {
			set[n] = true
		}
		for _, s := range m.Sources {
			if n := "quarantine/" + s.Name + ".csv"; checkName(n) == nil {
				set[n] = true
			}
		}
	}
	for _, o := range m.Outputs {
		if checkName(o.File) == nil {
			set[o.File] = true
		}
	}
	return set, nil
}

// writeOwned replaces the owned list atomically.
func writeOwned(dir string, names map[string]bool) error {
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	b, _ := json.MarshalIndent(list, "", "  ")
	return writeAtomic(dir, OwnedName, append(b, '\n'))
}

// writeAtomic writes name in dir through a temporary file, fsync and rename.
func writeAtomic(dir, name string, b []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, bytes.NewReader(b)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not every file system syncs directories
	return nil
}
