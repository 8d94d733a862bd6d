package engine

import "testing"

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://x","y")`: `'=HYPERLINK("http://x","y")`,
		"+1+2":                       "'+1+2",
		"-2+3":                       "'-2+3",
		"@SUM(A1)":                   "'@SUM(A1)",
		"\tcmd":                      "'\tcmd",
		"\r=1":                       "'\r=1",
		"-":                          "'-",
		"-12.50":                     "-12.50",
		"-300":                       "-300",
		"12.50":                      "12.50",
		"张三":                         "张三",
		"":                           "",
		"a=b":                        "a=b",
		`{"姓名":"=1+2"}`:              `{"姓名":"=1+2"}`,
	} {
		if got := safeCell(in); got != want {
			t.Errorf("safeCell(%q) = %q, want %q", in, got, want)
		}
	}
	rec := safeRecord([]string{"f.csv", "=1", "姓名", "+x"})
	if rec[1] != "'=1" || rec[3] != "'+x" || rec[0] != "f.csv" {
		t.Errorf("safeRecord: %q", rec)
	}
}
