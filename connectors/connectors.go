// Package connectors defines how departmental extracts are read: a Source
// yields raw records (the values exactly as the department sent them, with
// file and row number), and a Registry maps connector names such as "csv"
// to their Spec. Each connector lives in its own sub-package and registers
// itself in init; mapping raw records to canonical columns is the mapping
// package's job, so every connector gets the same mapping, quarantine and
// quality counts.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Header names the columns of one input (a file, a sheet, a table).
type Header struct {
	// Input is the file or table name shown to users (base name for files).
	Input string
	// Path is the full path or qualified table name.
	Path  string
	Names []string
}

// Record is one raw row.
type Record struct {
	Header *Header
	// Row is the row number users see: the line number in a text file
	// (the header is line 1), the sheet row in a workbook, the 1-based
	// record number in Parquet or a table.
	Row    int64
	Values []string
	// Problem, when not empty, says why the row cannot be mapped
	// ("ragged_row", "bad_encoding", "bad_quoting"); it goes to quarantine
	// with Detail.
	Problem string
	Detail  string
	// Column, when the Problem is in one column, is that column's header
	// name; Detail then names it too, with its position.
	Column string
}

// Input describes a file or table read, for the run manifest.
type Input struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256,omitempty"`
	Rows   int64  `json:"rows"`
}

// Reader streams the records of a source. Next returns io.EOF after the
// last record. Errors other than io.EOF are fatal for the source (an
// unreadable or truncated file); bad rows come back as records with a
// Problem instead.
type Reader interface {
	Next() (Record, error)
	// Inputs describes what was read so far; complete after io.EOF.
	Inputs() []Input
	Close() error
}

// Source is one configured extract.
type Source interface {
	// Headers opens every input and returns its column names without
	// reading the rows: the pre-flight check that all mapped columns exist.
	Headers(ctx context.Context) ([]Header, error)
	// Open starts reading.
	Open(ctx context.Context) (Reader, error)
}

// Config is what a connector is built from.
type Config struct {
	// Source is the source name from the job (for messages).
	Source string
	// Path is the path or glob, already resolved against the job's folder.
	Path    string
	Options Options
}

// Option documents one connector option.
type Option struct {
	Name    string
	Kind    string // "string", "int", "bool"
	Default any
	Doc     string
	// Allowed, when set, lists the accepted string values.
	Allowed []string
}

// Spec describes a connector: its options and how to build it.
type Spec struct {
	Name    string
	Doc     string
	Example string
	Options []Option
	New     func(Config) (Source, error)
}

// Options are a source's connector options after validation, with the
// defaults filled in.
type Options map[string]any

// String returns a string option.
func (o Options) String(name string) string { s, _ := o[name].(string); return s }

// Int returns an int option.
func (o Options) Int(name string) int { n, _ := o[name].(int); return n }

// Bool returns a bool option.
func (o Options) Bool(name string) bool { b, _ := o[name].(bool); return b }

// ErrUnknownConnector is returned for a connector name nobody registered.
var ErrUnknownConnector = errors.New("unknown connector")

// Registry maps connector names to specs.
type Registry struct {
	mu    sync.RWMutex
	specs map[string]Spec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{specs: map[string]Spec{}} }

// Default is the registry the built-in connectors register into.
var Default = NewRegistry()

// Register adds a connector; registering a name twice panics (a programming
// error caught at start-up).
func (r *Registry) Register(s Spec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.specs[s.Name]; dup {
		panic("connectors: " + s.Name + " registered twice")
	}
	r.specs[s.Name] = s
}

// Clone returns a copy that tests can extend without touching r.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := NewRegistry()
	for k, v := range r.specs {
		c.specs[k] = v
	}
	return c
}

// Specs lists the registered connectors by name.
func (r *Registry) Specs() []Spec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Spec, 0, len(r.specs))
	for _, s := range r.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the spec of a connector.
func (r *Registry) Lookup(name string) (Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.specs[name]
	return s, ok
}

// Build validates raw options against the connector's spec and builds the
// source. Unknown options, wrong types and values outside Allowed are
// errors naming the source and the option.
func (r *Registry) Build(connector, source, path string, raw map[string]any) (Source, error) {
	spec, ok := r.Lookup(connector)
	if !ok {
		names := []string{}
		for _, s := range r.Specs() {
			names = append(names, s.Name)
		}
		return nil, fmt.Errorf("source %s: %w %q (known: %s)", source, ErrUnknownConnector, connector, strings.Join(names, ", "))
	}
	opts, err := spec.Resolve(raw)
	if err != nil {
		return nil, fmt.Errorf("source %s: connector %s: %w", source, connector, err)
	}
	return spec.New(Config{Source: source, Path: path, Options: opts})
}

// Resolve checks raw options against the spec and fills in defaults.
func (s Spec) Resolve(raw map[string]any) (Options, error) {
	known := map[string]Option{}
	for _, o := range s.Options {
		known[o.Name] = o
	}
	out := Options{}
	for _, o := range s.Options {
		out[o.Name] = o.Default
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := known[k]
		if !ok {
			return nil, fmt.Errorf("unknown option %q (options: %s)", k, s.optionNames())
		}
		v, err := coerce(o, raw[k])
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

func (s Spec) optionNames() string {
	n := make([]string, len(s.Options))
	for i, o := range s.Options {
		n[i] = o.Name
	}
	return strings.Join(n, ", ")
}

func coerce(o Option, v any) (any, error) {
	switch o.Kind {
	case "string":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case int, int64, float64, bool:
			s = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		if len(o.Allowed) > 0 {
			for _, a := range o.Allowed {
				if strings.EqualFold(a, s) {
					return a, nil
				}
			}
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(o.Allowed, ", "))
		}
		return s, nil
	case "int":
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		case string:
			var n int
			if _, err := fmt.Sscan(x, &n); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("want a whole number, got %v", v)
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true", "yes":
				return true, nil
			case "false", "no":
				return false, nil
			}
		}
		return nil, fmt.Errorf("want true or false, got %v", v)
	}
	return v, nil
}
