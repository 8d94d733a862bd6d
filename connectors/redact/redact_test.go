package redact

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	cases := []struct{ in, leak string }{
		{"dial postgres://app:s3cr3t@db:5432/x failed", "s3cr3t"},
		{"host=db user=app password=s3cr3t dbname=x", "s3cr3t"},
		{"host=db password='s3 cr3t' dbname=x", "s3 cr3t"},
		{"app:s3cr3t@tcp(127.0.0.1:3306)/test: refused", "s3cr3t"},
		{"the secret hunter2 leaked", "hunter2"},
	}
	for _, c := range cases {
		got := Message(c.in, []string{"hunter2"})
		if strings.Contains(got, c.leak) {
			t.Errorf("Message(%q) = %q still holds %q", c.in, got, c.leak)
		}
	}
	if got := Message("connection refused", nil); got != "connection refused" {
		t.Errorf("clean message changed: %q", got)
	}
}

func TestErrorKeepsCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewError(ctx, "source s: postgres: cancelled", errors.New("driver text with password=x"))
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "password") {
		t.Errorf("err = %v", err)
	}
	if NewError(context.Background(), "m", errors.New("boom")).Unwrap() != nil {
		t.Errorf("a driver error must not be reachable through Unwrap")
	}
}
