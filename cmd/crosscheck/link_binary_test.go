package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyDir copies the example folder so that a test can change its job.
func copyExample(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "henan-sample")
	if out, err := exec.Command("cp", "-r", filepath.Join("..", "..", "examples", "henan-sample"), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy example: %v\n%s", err, out)
	}
	return dst
}

func linkSummary(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "link_summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLinkThresholdBinary: crosscheck link with identity.threshold auto
// (the default) reports a threshold chosen from the model's estimates; a
// number in the job fixes it; a bad value stops with an error naming the
// key.
func TestLinkThresholdBinary(t *testing.T) {
	ex := copyExample(t)
	job := filepath.Join(ex, "job.yaml")
	out := filepath.Join(t.TempDir(), "auto")
	r := runCLI(t, ex, 5*time.Minute, "link", "--config", job, "--out", out, "-q")
	if r.code != 0 {
		t.Fatalf("link: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if !strings.Contains(r.stdout, "chosen from the model's estimates") {
		t.Errorf("stdout does not report the automatic threshold:\n%s", r.stdout)
	}
	s := linkSummary(t, out)
	th, _ := s["threshold"].(float64)
	if s["threshold_auto"] != true || th < 0.5 || th > 0.999 {
		t.Errorf("auto: threshold %v auto %v, want a value in [0.5, 0.999] chosen automatically", s["threshold"], s["threshold_auto"])
	}

	body, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(job, append(body, []byte("\nidentity:\n  threshold: 0.97\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(t.TempDir(), "fixed")
	r = runCLI(t, ex, 5*time.Minute, "link", "--config", job, "--out", out, "-q")
	if r.code != 0 {
		t.Fatalf("link with threshold 0.97: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if s := linkSummary(t, out); s["threshold"] != 0.97 || s["threshold_auto"] != false {
		t.Errorf("fixed: threshold %v auto %v, want 0.97 fixed", s["threshold"], s["threshold_auto"])
	}
	if !strings.Contains(r.stdout, "match threshold 0.97 (identity.threshold)") {
		t.Errorf("stdout does not report the fixed threshold:\n%s", r.stdout)
	}

	if err := os.WriteFile(job, append(body, []byte("\nidentity:\n  threshold: 1.5\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, ex, 5*time.Minute, "link", "--config", job, "--out", filepath.Join(t.TempDir(), "bad"), "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "identity.threshold") {
		t.Errorf("threshold 1.5: exit %d, stderr %s; want an error naming identity.threshold", r.code, tail(r.stderr, 5))
	}
}
