package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestModelFileBinary: with identity.model in the job, the first link of a
// generated province trains the linkage model and writes it to the file;
// the second reuses it (no training) and resolves every record the same
// way; a damaged file stops the run with an error naming the key.
func TestModelFileBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a province of 20,000 persons and links it twice")
	}
	dir := t.TempDir()
	prov := filepath.Join(dir, "prov")
	if r := runCLI(t, dir, 5*time.Minute, "gen", "--persons", "20000", "--seed", "3", "--out", prov); r.code != 0 {
		t.Fatalf("gen: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	job := filepath.Join(prov, "job.yaml")
	body, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(job, append(body, []byte("\nidentity:\n  model: state/linkage-model.json\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(prov, "state", "linkage-model.json")

	link := func(name string) map[string]any {
		out := filepath.Join(dir, name)
		r := runCLI(t, prov, 10*time.Minute, "link", "--config", job, "--out", out, "-q")
		if r.code != 0 {
			t.Fatalf("link %s: exit %d\n%s", name, r.code, tail(r.stderr, 20))
		}
		return linkSummary(t, out)
	}
	first := link("first")
	if first["trained"] != true || first["reused_saved_model"] != false {
		t.Fatalf("first run: trained %v reused %v, want a trained model", first["trained"], first["reused_saved_model"])
	}
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatalf("the first run did not write identity.model: %v", err)
	}
	if !strings.Contains(string(b), `"crosscheck-linkage-model/1"`) || !strings.Contains(string(b), `"trained": true`) {
		t.Fatalf("model file:\n%.400s", b)
	}
	second := link("second")
	if second["trained"] != false || second["reused_saved_model"] != true {
		t.Fatalf("second run: trained %v reused %v, want the model file reused", second["trained"], second["reused_saved_model"])
	}
	for _, k := range []string{"by_method", "by_table", "threshold"} {
		if !reflect.DeepEqual(first[k], second[k]) {
			t.Errorf("%s: %v with the trained model, %v with the model file", k, first[k], second[k])
		}
	}
	if b2, err := os.ReadFile(model); err != nil || string(b2) != string(b) {
		t.Errorf("reusing the model rewrote the file (%v)", err)
	}

	if err := os.WriteFile(model, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, prov, 5*time.Minute, "link", "--config", job, "--out", filepath.Join(dir, "bad"), "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "identity.model") {
		t.Errorf("damaged model file: exit %d, stderr %s; want an error naming identity.model", r.code, tail(r.stderr, 5))
	}
}
