package casestore_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
)

// The working-day deadlines follow China's official calendar by default:
// a make-up Saturday (调休上班) counts, a public holiday does not; the
// store's own days win, and calendar "none" turns the official one off.
func TestCalendarOfficialHolidays(t *testing.T) {
	cst := time.FixedZone("", 8*3600)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 9, 0, 0, 0, cst) }
	end := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 0, 0, 0, 0, cst).AddDate(0, 0, 1)
	}
	path := filepath.Join(t.TempDir(), "cases.duckdb")
	s, err := casestore.Open(ctx, path, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Params().Calendar != casestore.CalendarChina {
		t.Fatalf("default calendar %q", s.Params().Calendar)
	}
	cal := s.Calendar()
	for _, tc := range []struct {
		d    time.Time
		work bool
	}{
		{day(2026, 2, 14), true},  // Saturday, 春节调休上班
		{day(2024, 9, 29), true},  // Sunday, 国庆节调休上班
		{day(2026, 2, 21), false}, // ordinary Saturday
		{day(2024, 10, 1), false}, // Tuesday, 国庆节
		{day(2025, 1, 28), false}, // Tuesday, 春节 (除夕)
		{day(2024, 10, 8), true},  // Tuesday after the National Day week
	} {
		if got := cal.IsWorkday(tc.d); got != tc.work {
			t.Errorf("%s: workday %v, want %v", tc.d.Format("2006-01-02 Mon"), got, tc.work)
		}
	}
	// Friday 27 Sep 2024 + 2 working days: Sunday 29 Sep is worked, Monday
	// 30 Sep is a working day, then 1–7 Oct are off → due end of Monday 30 Sep.
	if got := cal.Due(day(2024, 9, 27), 2); !got.Equal(end(2024, 9, 30)) {
		t.Errorf("due across 调休 %v", got)
	}
	// Monday 30 Sep 2024 + 1 working day → the holiday week is skipped,
	// Tuesday 8 Oct (Saturday 12 Oct is worked later).
	if got := cal.Due(day(2024, 9, 30), 1); !got.Equal(end(2024, 10, 8)) {
		t.Errorf("due across 国庆 %v", got)
	}

	// Calendar off: Monday to Friday only, so 1 Oct is a working day.
	p := s.Params()
	p.Calendar = casestore.CalendarNone
	if err := s.SetParams(ctx, admin, p, "试点县不按法定节假日计算"); err != nil {
		t.Fatal(err)
	}
	if !s.Calendar().IsWorkday(day(2024, 10, 1)) || s.Calendar().IsWorkday(day(2026, 2, 14)) {
		t.Errorf("calendar none still uses the official days")
	}
	// The store's own days win over the official calendar.
	p.Calendar = casestore.CalendarChina
	p.Workdays = []string{"2024-10-02"}
	p.Holidays = []string{"2024-10-08"}
	if err := s.SetParams(ctx, admin, p, "县里的安排"); err != nil {
		t.Fatal(err)
	}
	if !s.Calendar().IsWorkday(day(2024, 10, 2)) || s.Calendar().IsWorkday(day(2024, 10, 8)) {
		t.Errorf("extra days do not override the official calendar")
	}
	p.Calendar = "us"
	if err := s.SetParams(ctx, admin, p, "x"); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("unknown calendar: %v", err)
	}
}
