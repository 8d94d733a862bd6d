package review_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// TestQueuePageEscapes: names, program codes and names, and rule ids with
// markup and quotes are escaped in the queue page, and the filter choices
// follow an import (they are cached per scope).
func TestQueuePageEscapes(t *testing.T) {
	e := serve(t, buildStore(t, t.TempDir()))
	rv, code := formLogin(t, e.URL, "mz_zhongyuan", password)
	if code != 303 {
		t.Fatalf("sign in: %d", code)
	}
	code, body := rv.page("/cases")
	if code != 200 || strings.Contains(body, "evil") {
		t.Fatalf("queue: %d", code)
	}
	other, _ := formLogin(t, e.URL, "mz_jinshui", password)
	_, before := other.page("/cases")

	// Import a case with hostile values in 中原区.
	h := casetest.Death("run2", "2024-06", "410102196001011111", `<script>alert("evil")</script>'O'Brien'`, `evil"><b>`,
		`高龄<i>"津贴"</i>&+`, "民政局", zhong, 123.45, 9, "2023-03-05")
	h.RuleID = `rule<"evil">`
	path := filepath.Join(t.TempDir(), "hits.parquet")
	if err := casetest.WriteHits(context.Background(), path, []casetest.Hit{h}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	adm := login(t, e.URL, "admin")
	if code, out := adm.raw("POST", "/api/v1/runs", b); code != 200 {
		t.Fatalf("import: %d %s", code, out)
	}

	code, body = rv.page("/cases")
	if code != 200 {
		t.Fatalf("queue: %d", code)
	}
	for _, want := range []string{
		`<td>&lt;script&gt;alert(&#34;evil&#34;)&lt;/script&gt;&#39;O&#39;Brien&#39;</td>`,
		`<option value="evil&#34;&gt;&lt;b&gt;" >高龄&lt;i&gt;&#34;津贴&#34;&lt;/i&gt;&amp;&#43;</option>`,
		`<option value="rule&lt;&#34;evil&#34;&gt;" >rule&lt;&#34;evil&#34;&gt;</option>`,
		`<td>高龄&lt;i&gt;&#34;津贴&#34;&lt;/i&gt;&amp;&#43;</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script>", `"evil"`, "<b>", "<i>", `'O'`} {
		if strings.Contains(body, bad) {
			t.Errorf("queue page has unescaped %s", bad)
		}
	}
	// Filtering by the new program and rule, in English.
	code, body = rv.page("/cases?program=evil%22%3E%3Cb%3E&rule=rule%3C%22evil%22%3E")
	if code != 200 || !strings.Contains(body, `<b id="total">1</b>`) || !strings.Contains(body, `<option value="evil&#34;&gt;&lt;b&gt;" selected>`) ||
		!strings.Contains(body, `href="/export.xlsx?program=evil%22%3E%3Cb%3E&amp;rule=rule%3C%22evil%22%3E&amp;status=open"`) {
		t.Errorf("filtered queue: %d\n%s", code, body)
	}
	// Another county sees neither the case nor its program and rule.
	_, after := other.page("/cases")
	if strings.Contains(after, "evil") || after != before {
		t.Errorf("other county's queue changed: %s", after)
	}
}
