package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/review"
	"github.com/crosscheck/crosscheck/screen"
)

type storeFlags struct {
	path        string
	threads     int
	memoryLimit string
}

func (f *storeFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.path, "store", "cases.duckdb", "case store (DuckDB file; created and migrated if needed)")
	c.Flags().IntVar(&f.threads, "threads", 0, "DuckDB threads (default: all cores)")
	c.Flags().StringVar(&f.memoryLimit, "memory-limit", "", "DuckDB memory limit, e.g. 4GiB")
}

func (f *storeFlags) open(ctx context.Context, cmd *cobra.Command, quiet bool) (*casestore.Store, error) {
	s, err := casestore.Open(ctx, f.path, f.options(cmd, quiet))
	return s, storeOpenError(f.path, err)
}

func (f *storeFlags) options(cmd *cobra.Command, quiet bool) casestore.Options {
	return casestore.Options{Threads: f.threads, MemoryLimit: f.memoryLimit, Log: newLogger(cmd.ErrOrStderr(), quiet)}
}

// storeOpenError says what to do about a store that does not open: a lock
// held by a running process and a write-ahead log that cannot be replayed
// are different problems with different remedies.
func storeOpenError(path string, err error) error {
	switch {
	case errors.Is(err, casestore.ErrLocked):
		return fmt.Errorf("%w: stop that process (crosscheck serve?) first, or import through the server's API (POST /api/v1/runs)", err)
	case errors.Is(err, casestore.ErrDamagedWAL):
		wal := casestore.WALPath(path)
		return fmt.Errorf("%w\nNo other process holds the store. The changes since its last checkpoint are in %s, which cannot be read back.\n"+
			"Keep a copy of %s, %s and %s.audit-journal, then run\n  crosscheck cases recover --store %s\n"+
			"It moves %s aside and opens the store as of its last checkpoint; audit entries of views still in the audit journal come back, "+
			"review actions taken after the checkpoint must be taken again", err, wal, path, wal, path, path, wal)
	case errors.Is(err, casestore.ErrNotAStore):
		size := "?"
		if st, e := os.Stat(path); e == nil {
			size = fmt.Sprint(st.Size())
		}
		return fmt.Errorf("%w\n%s 不是案件库（%s 字节），crosscheck 不会改动或删除它。若它是空文件或只有几 KiB，那是旧版 crosscheck 在创建案件库时被终止留下的，其中没有数据：将它移走后重新运行即可创建案件库。\n"+
			"%s is not a case store (%s bytes); crosscheck never changes or deletes it. If it is empty or a few KiB, an older crosscheck was killed while creating the store "+
			"and it holds nothing: move it aside and run the command again to create the store", err, path, size, path, size)
	}
	return err
}

func newServe() *cobra.Command {
	var sf storeFlags
	var users, addr, certFile, keyFile, refStore, screenDir string
	var cookieSecure, quiet bool
	var refresh time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the case review web UI and JSON API",
		Long: `serve opens the case store and serves the review UI (Chinese, with an English switch), the JSON
API under /api/v1 (docs/api.md), /metrics (Prometheus; open unless the users file says
metrics_access: signed_in) and /healthz. Users and roles come from the
users file (docs/review.md); passwords are bcrypt or argon2id hashes made with
"crosscheck serve hash-password". With --ref-store (a reference store made by "crosscheck store
refresh", opened read-only) it also serves the applicant check (the /check form and POST
/api/v1/check) and roll screening (POST /api/v1/screen). Serve over HTTPS (--tls-cert/--tls-key, or behind a proxy with
--cookie-secure) anywhere but on a loopback address.`,
		Example: `  crosscheck cases import --hits out/demo/hits.parquet --store cases.duckdb
  crosscheck serve --store cases.duckdb --users users.yaml --addr 127.0.0.1:8080
  crosscheck store refresh --config examples/henan-sample/job.yaml --store ref.duckdb
  crosscheck serve --store cases.duckdb --users users.yaml --ref-store ref.duckdb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := newLogger(cmd.ErrOrStderr(), quiet)
			u, err := review.LoadUsers(users)
			if err != nil {
				return err
			}
			st, err := sf.open(ctx, cmd, quiet)
			if err != nil {
				return err
			}
			defer st.Close()
			var scr *screen.Screener
			if refStore != "" {
				// Read-only: several servers may share one reference store;
				// "crosscheck store refresh" is its only writer.
				if scr, err = screen.Open(ctx, refStore, screen.Options{Log: log, Threads: sf.threads, MemoryLimit: sf.memoryLimit}); err != nil {
					return fmt.Errorf("--ref-store %s: %w", refStore, err)
				}
				defer scr.Close()
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg := review.Config{Store: st, Users: u, Registry: reg, Log: log,
				CookieSecure: cookieSecure || certFile != "", RefreshEvery: refresh, ScreenDir: screenDir}
			if scr != nil {
				cfg.Screener = scr
				if cfg.Programs, err = refPrograms(ctx, refStore); err != nil {
					return fmt.Errorf("--ref-store %s: %w", refStore, err)
				}
			}
			srv, err := review.New(cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			if scr != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "reference store %s: POST /api/v1/check, POST /api/v1/screen and /check are on\n", refStore)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %d cases on %s://%s\n", st.Count(), scheme, ln.Addr())
			errc := make(chan error, 1)
			go func() {
				if certFile != "" {
					errc <- hs.ServeTLS(ln, certFile, keyFile)
				} else {
					errc <- hs.Serve(ln)
				}
			}()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		},
	}
	sf.add(c)
	c.Flags().StringVar(&users, "users", "", "users file (YAML)")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	c.Flags().StringVar(&refStore, "ref-store", "", "reference store (crosscheck store refresh), opened read-only, for the applicant check and roll screening (docs/api.md)")
	c.Flags().StringVar(&screenDir, "screen-dir", "", "keep the run folder of each roll screened through POST /api/v1/screen here (default: removed after the answer)")
	c.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate file (PEM)")
	c.Flags().StringVar(&keyFile, "tls-key", "", "TLS key file (PEM)")
	c.Flags().BoolVar(&cookieSecure, "cookie-secure", false, "mark cookies Secure (when a proxy terminates TLS)")
	c.Flags().DurationVar(&refresh, "refresh-every", time.Hour, "recompute priorities and deadlines this often (negative: never)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "log warnings only")
	_ = c.MarkFlagRequired("users")
	c.AddCommand(newHashPassword(), newToken())
	return c
}

// refPrograms reads the program catalogue of a reference store, for the
// clerk form's choice and the check's input validation. screen.Screener
// does not list its programs (yet), so this reads the store's
// program_catalogue table, read-only.
func refPrograms(ctx context.Context, path string) ([]review.ProgramOption, error) {
	s, err := openRef(ctx, path)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rows, err := s.DB.QueryContext(ctx, "SELECT program_code, coalesce(name, program_code) FROM ref.program_catalogue ORDER BY program_code")
	if err != nil {
		return nil, fmt.Errorf("program catalogue: %w", err)
	}
	defer rows.Close()
	var out []review.ProgramOption
	for rows.Next() {
		var p review.ProgramOption
		if err := rows.Scan(&p.Code, &p.Name); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// openRef opens an in-memory DuckDB session with a reference store
// attached read-only as "ref".
func openRef(ctx context.Context, path string) (*engine.Session, error) {
	s, err := engine.Open(ctx, job.Engine{Database: ":memory:", Threads: 1})
	if err != nil {
		return nil, err
	}
	if err := s.AttachStore(ctx, path, "ref", nil); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func newHashPassword() *cobra.Command {
	var argon bool
	var cost int
	c := &cobra.Command{
		Use:     "hash-password",
		Short:   "Read a password on standard input and print its hash for the users file",
		Example: "  printf '%s' 'the password' | crosscheck serve hash-password",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read password: %w", err)
			}
			pw := strings.TrimRight(line, "\r\n")
			if len(pw) < 8 {
				return errors.New("password shorter than 8 characters")
			}
			if argon {
				salt := make([]byte, 16)
				if _, err := rand.Read(salt); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), review.HashArgon2id(pw, salt))
				return nil
			}
			h, err := review.HashPassword(pw, cost)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	c.Flags().BoolVar(&argon, "argon2id", false, "argon2id instead of bcrypt")
	c.Flags().IntVar(&cost, "cost", 12, "bcrypt cost")
	return c
}

func newToken() *cobra.Command {
	return &cobra.Command{
		Use:     "token",
		Short:   "Make an API bearer token: prints the token (give it to the client) and its token_sha256 (for the users file)",
		Example: "  crosscheck serve token",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			tok := hex.EncodeToString(b)
			sum := sha256.Sum256([]byte(tok))
			fmt.Fprintf(cmd.OutOrStdout(), "token: %s\ntoken_sha256: %s\n", tok, hex.EncodeToString(sum[:]))
			return nil
		},
	}
}

func newCases() *cobra.Command {
	c := &cobra.Command{Use: "cases", Short: "Manage the case store: import runs, migrate, refresh priorities"}
	var sf storeFlags
	var hits, manifest, periods, runDir string
	var quiet bool
	imp := &cobra.Command{
		Use:   "import [RUN_FOLDER]",
		Short: "Import a run (its output folder, or its hits.parquet) into the case store",
		Long: `import builds cases from a run's hits (one per person and program while open; a case open from
an earlier run gains the new payments), applies suppression of dismissed cases and the exception
register, flags cases whose death record a later run no longer sees, and recomputes priorities.
Give the run's output folder (crosscheck run --out): its hits.parquet and manifest.json (the
periods it screened) are read. --hits FILE imports a hits file alone (its manifest.json beside it,
if there). It prints how the run's hits and cases became store cases. A run imported before
changes nothing and exits 0.`,
		Example: `  crosscheck cases import out/demo --store cases.duckdb
  crosscheck cases import --hits out/demo/hits.parquet --store cases.duckdb`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				runDir = args[0]
			}
			if st, err := os.Stat(hits); err == nil && st.IsDir() && runDir == "" {
				runDir, hits = hits, "" // --hits naming the run folder
			}
			if err := checkImportArgs(runDir, hits); err != nil {
				return err
			}
			// Only a complete run is imported (docs/outputs.md).
			info, err := verifyImport(runDir, hits)
			if err != nil {
				return fmt.Errorf("cases import: %w", err)
			}
			if info != nil && info.Recovered {
				fmt.Fprintf(cmd.ErrOrStderr(), "已完成被中断的运行 %s 的文件替换 / completed the swap of run %s, which was interrupted after its commit point\n", info.RunID, info.RunID)
			}
			st, err := sf.open(cmd.Context(), cmd, quiet)
			if err != nil {
				return err
			}
			defer st.Close()
			o := casestore.ImportOptions{Manifest: manifest}
			if periods != "" {
				o.Periods = strings.Split(periods, ",")
			}
			return importRun(cmd, st, runDir, hits, o)
		},
	}
	sf.add(imp)
	imp.Flags().StringVar(&runDir, "run", "", "the run's output folder (same as the RUN_FOLDER argument)")
	imp.Flags().StringVar(&hits, "hits", "", "hits.parquet of a run (instead of the run folder)")
	imp.Flags().StringVar(&manifest, "manifest", "", "the run's manifest.json (default: beside the hits file, if there)")
	imp.Flags().StringVar(&periods, "periods", "", "periods the run screened, comma-separated YYYY-MM (default: from the manifest)")
	imp.Flags().BoolVarP(&quiet, "quiet", "q", false, "log warnings only")

	var sf2 storeFlags
	info := &cobra.Command{
		Use:     "info",
		Short:   "Create or migrate the store and print its schema version, runs and case counts",
		Example: "  crosscheck cases info --store cases.duckdb",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf2.open(cmd.Context(), cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			runs, err := st.Runs(cmd.Context())
			if err != nil {
				return err
			}
			counts := map[string]int{}
			for _, x := range st.CountByStatus() {
				counts[x.Status] += x.N
			}
			out := map[string]any{"store": sf2.path, "schema_version": casestore.SchemaVersion(), "cases": st.Count(),
				"by_status": counts, "runs": runs, "params": st.Params()}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	sf2.add(info)

	var sf3 storeFlags
	refresh := &cobra.Command{
		Use:     "refresh",
		Short:   "Recompute deadlines, rule precision and priorities of open cases",
		Example: "  crosscheck cases refresh --store cases.duckdb",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf3.open(cmd.Context(), cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			return st.Refresh(cmd.Context())
		},
	}
	sf3.add(refresh)

	var sf4 storeFlags
	rec := &cobra.Command{
		Use:   "recover",
		Short: "Open a store whose write-ahead log cannot be replayed, as of its last checkpoint",
		Long: `recover is for a store that "cases info" or "serve" reports as having a write-ahead log that
cannot be replayed (not for a store in use by another process: that one is left alone). It moves
STORE.wal aside to STORE.wal.damaged-<UTC time> (kept for inspection), opens the store as of its
last checkpoint, gives back the audit entries of views still in the audit journal, and
checkpoints. Review actions taken after the last checkpoint are not in the store afterwards.
Copy the store, its .wal and its .audit-journal folder first.`,
		Example: "  crosscheck cases recover --store cases.duckdb",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, moved, err := casestore.RecoverDamagedWAL(cmd.Context(), sf4.path, sf4.options(cmd, true))
			if err != nil {
				if moved == "" {
					return storeOpenError(sf4.path, err)
				}
				return err
			}
			defer st.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "moved the write-ahead log to %s; store %s opened as of its last checkpoint: schema version %d, %d cases\n",
				moved, sf4.path, casestore.SchemaVersion(), st.Count())
			return nil
		},
	}
	sf4.add(rec)
	c.AddCommand(imp, info, refresh, rec)
	return c
}
