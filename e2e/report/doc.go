// Package report holds tests that drive the built crosscheck binary as a
// user does, for the outputs people read: the run report (report.html) in
// headless Chromium, the terminal summary, the publication pack and rules
// diff. It has no code of its own.
package report
