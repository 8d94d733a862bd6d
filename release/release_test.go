package release_test

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxGlibc is the newest glibc symbol version each binary may need: the
// oldest glibc it runs on, as README.md ("Install on a server") states it.
var maxGlibc = map[string]string{"amd64": "2.36", "arm64": "2.36"}

// TestRelease checks what make release wrote to CROSSCHECK_RELEASE_DIR: the
// checksums, each archive's contents, the binaries' library needs, the
// amd64 binary from its archive in a clean directory without Go on PATH
// and the arm64 binary under qemu-user, both screening examples/henan-sample
// to exactly expected_hits.csv.
func TestRelease(t *testing.T) {
	dist := os.Getenv("CROSSCHECK_RELEASE_DIR")
	version := os.Getenv("CROSSCHECK_RELEASE_VERSION")
	if dist == "" || version == "" {
		t.Skip("run by make release-test (CROSSCHECK_RELEASE_DIR, CROSSCHECK_RELEASE_VERSION)")
	}
	sums := checkSums(t, dist)
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			name := fmt.Sprintf("crosscheck_%s_linux_%s", version, arch)
			for _, f := range []string{name + ".tar.gz", name + ".cdx.json"} {
				if _, ok := sums[f]; !ok {
					t.Fatalf("SHA256SUMS does not list %s", f)
				}
			}
			dir := t.TempDir()
			run(t, dir, nil, "tar", "-xzf", filepath.Join(dist, name+".tar.gz"))
			root := filepath.Join(dir, name)
			checkContents(t, root, arch)
			checkELF(t, filepath.Join(root, "crosscheck"), arch)
			checkSBOM(t, filepath.Join(dist, name+".cdx.json"), arch)
			runSample(t, root, arch, version)
		})
	}
}

// checkSums verifies SHA256SUMS with sha256sum -c, as a user does, and
// returns its entries.
func checkSums(t *testing.T, dist string) map[string]string {
	t.Helper()
	run(t, dist, nil, "sha256sum", "--strict", "-c", "SHA256SUMS")
	b, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, file, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", line)
		}
		f, err := os.ReadFile(filepath.Join(dist, file))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(f)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", file)
		}
		sums[file] = sum
	}
	return sums
}

func checkContents(t *testing.T, root, arch string) {
	t.Helper()
	for _, f := range []string{"crosscheck", "README.md", "docs/config.md", "examples/henan-sample/job.yaml",
		"examples/henan-sample/expected_hits.csv", "examples/henan-sample/README.md",
		"LICENSES/embedded-data/normalize/names/data/LICENSE-NOTICE",
		"LICENSES/embedded-data/identity/pinyin/data/NOTES.md",
		"LICENSES/embedded-data/benchmarks/gen/data/LICENSE-NOTICE",
		"LICENSES/third-party/MODULES.txt",
		"LICENSES/third-party/github.com/duckdb/duckdb-go-bindings/lib/linux-" + arch + "/LICENSE",
		"LICENSES/third-party/github.com/apache/arrow-go/v18/LICENSE.txt",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("archive: %v", err)
		}
	}
	mods, err := os.ReadFile(filepath.Join(root, "LICENSES/third-party/MODULES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[arch]
	if bytes.Contains(mods, []byte("lib/linux-"+other)) {
		t.Errorf("archive for %s lists the %s DuckDB library among its modules", arch, other)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "glibc " + maxGlibc[arch]; !bytes.Contains(readme, []byte(want)) {
		t.Errorf("README.md does not state %q", want)
	}
}

// checkELF checks the machine, that libstdc++ and libgcc are linked in, and
// that no glibc symbol newer than maxGlibc is needed.
func checkELF(t *testing.T, bin, arch string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		t.Errorf("%s: machine %v, want %v", bin, f.Machine, want)
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if strings.HasPrefix(l, "libstdc++") || strings.HasPrefix(l, "libgcc_s") {
			t.Errorf("%s needs %s; it should be linked statically", bin, l)
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	newest, sym := "", ""
	for _, s := range syms {
		v, ok := strings.CutPrefix(s.Version, "GLIBC_")
		if ok && s.Section == elf.SHN_UNDEF && versionLess(newest, v) {
			newest, sym = v, s.Name
		}
	}
	t.Logf("%s: needs %v, glibc %s (%s)", arch, libs, newest, sym)
	if versionLess(maxGlibc[arch], newest) {
		t.Errorf("%s needs glibc %s (%s), newer than the %s README.md states", bin, newest, sym, maxGlibc[arch])
	}
}

// versionLess compares dotted versions ("" is the smallest).
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func checkSBOM(t *testing.T, path, arch string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bom.BOMFormat != "CycloneDX" {
		t.Errorf("%s: bomFormat %q", path, bom.BOMFormat)
	}
	have := map[string]string{}
	for _, c := range bom.Components {
		have[c.Name] = c.Version
	}
	for _, m := range []string{"github.com/duckdb/duckdb-go/v2", "github.com/duckdb/duckdb-go-bindings/lib/linux-" + arch,
		"github.com/apache/arrow-go/v18", "github.com/xuri/excelize/v2"} {
		if have[m] == "" {
			t.Errorf("%s: no component %s", path, m)
		}
	}
}

// runSample runs the unpacked binary in a clean directory with a bare
// environment (PATH=/usr/bin:/bin, no Go), the arm64 one under qemu-user:
// version first, then the example, whose hits must equal expected_hits.csv.
func runSample(t *testing.T, root, arch, version string) {
	t.Helper()
	for _, d := range []string{"/usr/bin", "/bin"} {
		if _, err := os.Stat(filepath.Join(d, "go")); err == nil {
			t.Fatalf("%s/go exists: the clean environment would have Go on PATH", d)
		}
	}
	work := t.TempDir()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + work, "LANG=C.UTF-8"}
	cmd := []string{filepath.Join(root, "crosscheck")}
	if arch != runtime.GOARCH {
		qemu := "/usr/bin/qemu-" + map[string]string{"arm64": "aarch64", "amd64": "x86_64"}[arch] + "-static"
		sysroot := "/usr/" + map[string]string{"arm64": "aarch64", "amd64": "x86_64"}[arch] + "-linux-gnu"
		if _, err := os.Stat(qemu); err != nil {
			t.Fatalf("%v: install qemu-user-static (release/deps.sh)", err)
		}
		cmd = []string{qemu, "-L", sysroot, cmd[0]}
	}

	out := run(t, work, env, append(cmd, "version", "--json")...)
	var info struct {
		Version, Commit, Platform string
		BuildDate                 string `json:"build_date"`
		GoVersion                 string `json:"go_version"`
		DuckDB                    string `json:"duckdb_version"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	if info.Version != version || info.Platform != "linux/"+arch || info.Commit == "" || info.Commit == "unknown" ||
		!strings.HasPrefix(info.GoVersion, "go1.") || !strings.HasPrefix(info.DuckDB, "v1.") {
		t.Errorf("version --json: %+v", info)
	}
	if _, err := time.Parse(time.RFC3339, info.BuildDate); err != nil {
		t.Errorf("version --json: build_date: %v", err)
	}

	start := time.Now()
	run(t, work, env, append(cmd, "run", "--quiet", "--config", filepath.Join(root, "examples/henan-sample/job.yaml"), "--out", "out")...)
	t.Logf("%s: examples/henan-sample screened in %s", arch, time.Since(start).Round(10*time.Millisecond))

	key := []string{"rule_id", "category", "severity", "payment_id", "program_code", "period"}
	want := project(t, readCSV(t, filepath.Join(root, "examples/henan-sample/expected_hits.csv")), key)
	got := project(t, readCSV(t, filepath.Join(work, "out", "hits.csv")), key)
	if len(want) == 0 {
		t.Fatal("expected_hits.csv is empty")
	}
	var missing, unexpected []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			unexpected = append(unexpected, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unexpected)
	if len(missing)+len(unexpected) > 0 {
		t.Errorf("%s: hits.csv differs from expected_hits.csv\nmissing:\n%s\nunexpected:\n%s", arch,
			strings.Join(missing, "\n"), strings.Join(unexpected, "\n"))
	}
	t.Logf("%s: %d hits equal expected_hits.csv", arch, len(got))
}

// run runs a command in dir (env nil: this process's environment) and
// returns its standard output; a failure ends the test with its stderr.
func run(t *testing.T, dir string, env []string, args ...string) []byte {
	t.Helper()
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	c.Env = env
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// readCSV reads a CSV file, dropping a UTF-8 BOM.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %v (%d rows)", path, err, len(rows))
	}
	return rows
}

// project turns rows (header first) into the set of their key columns, as
// engine/example_test.go compares the example's hits.
func project(t *testing.T, rows [][]string, key []string) map[string]bool {
	t.Helper()
	idx := make([]int, len(key))
	for i, k := range key {
		idx[i] = -1
		for j, h := range rows[0] {
			if h == k {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			t.Fatalf("column %s missing from %v", k, rows[0])
		}
	}
	out := map[string]bool{}
	for _, r := range rows[1:] {
		vals := make([]string, len(idx))
		for i, j := range idx {
			vals[i] = r[j]
		}
		k := strings.Join(vals, ",")
		if out[k] {
			t.Errorf("row %s appears twice", k)
		}
		out[k] = true
	}
	return out
}
