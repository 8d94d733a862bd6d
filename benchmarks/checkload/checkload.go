// Package checkload is a load generator for POST /api/v1/check: a fixed
// number of concurrent clients send applicant checks, bounded in count and
// in time, and the latencies are summarised as percentiles.
package checkload

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Applicant is one check's body.
type Applicant struct {
	IDNumber string `json:"id_number"`
	Name     string `json:"name"`
	Program  string `json:"program"`
	Period   string `json:"period"`
}

// Options bound the load: Requests checks in all, or Duration, whichever
// comes first. Applicants are sent in turn, round robin.
type Options struct {
	URL        string // the server's base URL (http://127.0.0.1:8080)
	Token      string // bearer token
	Clients    int
	Requests   int
	Duration   time.Duration
	Applicants []Applicant
	// Timeout of one request (default 10s).
	Timeout time.Duration
}

// Result summarises a load run.
type Result struct {
	Clients  int `json:"clients"`
	Requests int `json:"requests"` // answered or failed
	OK       int `json:"ok"`       // 200
	Errors   int `json:"errors"`   // anything else, transport errors included
	// Unfinished requests were still waiting for their answer when the
	// time bound ended the run; they are not in the latencies.
	Unfinished int            `json:"unfinished"`
	ByStatus   map[string]int `json:"by_status"`
	Hits       int            `json:"hits"` // hits in the 200 answers
	Elapsed    time.Duration  `json:"elapsed_ns"`
	PerSec     float64        `json:"per_second"`
	P50        time.Duration  `json:"p50_ns"`
	P95        time.Duration  `json:"p95_ns"`
	P99        time.Duration  `json:"p99_ns"`
	Max        time.Duration  `json:"max_ns"`
	// FirstError is the first failure seen, to say what went wrong.
	FirstError string `json:"first_error,omitempty"`
}

// String is the summary the command prints.
func (r *Result) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	var st []string
	for k, v := range r.ByStatus {
		st = append(st, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(st)
	s := fmt.Sprintf("requests %d answered in %.1f s (%.1f/s) with %d clients, %d unfinished at the time bound; ok %d, errors %d [%s]; hits %d\n"+
		"latency p50 %s  p95 %s  p99 %s  max %s\n",
		r.Requests, r.Elapsed.Seconds(), r.PerSec, r.Clients, r.Unfinished, r.OK, r.Errors, strings.Join(st, ", "), r.Hits,
		ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max))
	if r.FirstError != "" {
		s += "first error: " + r.FirstError + "\n"
	}
	return s
}

// Run sends the load and waits for the last answer.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Clients <= 0 || o.Requests <= 0 || o.Duration <= 0 {
		return nil, errors.New("checkload: clients, requests and duration must be positive (the load is bounded in count and time)")
	}
	if len(o.Applicants) == 0 {
		return nil, errors.New("checkload: no applicants")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	url := strings.TrimRight(o.URL, "/") + "/api/v1/check"
	bodies := make([][]byte, len(o.Applicants))
	for i, a := range o.Applicants {
		bodies[i], _ = json.Marshal(a)
	}
	tr := &http.Transport{MaxIdleConns: o.Clients, MaxIdleConnsPerHost: o.Clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: o.Timeout}

	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var next atomic.Int64
	lat := make([][]time.Duration, o.Clients)
	type tally struct {
		ok, errs, hits, cut int
		status              map[string]int
		first               string
	}
	tallies := make([]tally, o.Clients)
	t0 := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < o.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			t := &tallies[c]
			t.status = map[string]int{}
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if n >= int64(o.Requests) {
					return
				}
				body := bodies[n%int64(len(bodies))]
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+o.Token)
				s := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() != nil { // the time bound cut it: not an answer
						t.cut++
						return
					}
					t.errs++
					t.status["transport"]++
					if t.first == "" {
						t.first = err.Error()
					}
					lat[c] = append(lat[c], time.Since(s))
					continue
				}
				var out struct {
					Hits []json.RawMessage `json:"hits"`
				}
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(s)
				if rerr != nil && ctx.Err() != nil {
					t.cut++
					return
				}
				lat[c] = append(lat[c], d)
				t.status[fmt.Sprint(resp.StatusCode)]++
				if resp.StatusCode == http.StatusOK && rerr == nil && json.Unmarshal(b, &out) == nil {
					t.ok++
					t.hits += len(out.Hits)
					continue
				}
				t.errs++
				if t.first == "" {
					t.first = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
				}
			}
		}(c)
	}
	wg.Wait()
	r := &Result{Clients: o.Clients, Elapsed: time.Since(t0), ByStatus: map[string]int{}}
	var all []time.Duration
	for c := range lat {
		all = append(all, lat[c]...)
		t := tallies[c]
		r.OK += t.ok
		r.Errors += t.errs
		r.Hits += t.hits
		r.Unfinished += t.cut
		for k, v := range t.status {
			r.ByStatus[k] += v
		}
		if r.FirstError == "" {
			r.FirstError = t.first
		}
	}
	r.Requests = len(all)
	if r.Elapsed > 0 {
		r.PerSec = float64(r.Requests) / r.Elapsed.Seconds()
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.P50, r.P95, r.P99 = Percentile(all, 50), Percentile(all, 95), Percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r, nil
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 100) of sorted
// latencies: the smallest value with at least p% of them at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.999999999) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

// ReadApplicants reads applicants from CSV lines "id_number[,name[,program[,period]]]"
// (a header line starting with id_number is skipped); program and period
// fill the fields a line leaves empty.
func ReadApplicants(r io.Reader, program, period string) ([]Applicant, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var out []Applicant
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) == 0 || strings.TrimSpace(rec[0]) == "" || (line == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "id_number")) {
			continue
		}
		a := Applicant{IDNumber: strings.TrimSpace(rec[0]), Program: program, Period: period}
		if len(rec) > 1 {
			a.Name = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 && strings.TrimSpace(rec[2]) != "" {
			a.Program = strings.TrimSpace(rec[2])
		}
		if len(rec) > 3 && strings.TrimSpace(rec[3]) != "" {
			a.Period = strings.TrimSpace(rec[3])
		}
		if a.Name == "" {
			a.Name = "申请人"
		}
		if a.Program == "" || a.Period == "" {
			return nil, fmt.Errorf("line %d: no program or period (give --program and --period, or columns 3 and 4)", line)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no applicants in the file")
	}
	return out, nil
}
