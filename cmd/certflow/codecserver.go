package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/certflow/certflow/internal/codec"
)

// codecServerFlags are the flags of `certflow codec-server`.
type codecServerFlags struct {
	listen        string
	origins       []string
	namespaces    []string
	serveEncode   bool
	maxConcurrent int
}

// newCodecServerCommand builds `codec-server`: Temporal's remote codec
// endpoints, so the Web UI and the temporal CLI show the payloads certflow
// encrypted to whoever runs it with the keys.
func newCodecServerCommand(opts *options) *cobra.Command {
	var flags codecServerFlags
	envMax, envMaxErr := maxConcurrentFromEnv()
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Decrypt workflow payloads for the Temporal Web UI and CLI (POST /decode)",
		Long: `codec-server serves Temporal's remote codec endpoints with certflow's payload keys
(--payload-key-file or --payload-key-secret), so the Temporal Web UI
(temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081, or the UI's
codec server setting) and the temporal CLI (--codec-endpoint) show encrypted
payloads in clear. It serves /decode, and /encode only with --serve-encode.
Anyone who can reach it can decrypt: keep it on loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if envMaxErr != nil && !cmd.Flags().Changed("max-concurrent") {
				return envMaxErr
			}
			if flags.maxConcurrent < 1 {
				return fmt.Errorf("--max-concurrent (CERTFLOW_CODEC_MAX_CONCURRENT) is %d: must be at least 1", flags.maxConcurrent)
			}
			return serveCodec(cmd.Context(), opts, flags)
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.listen, "listen", env("CERTFLOW_CODEC_LISTEN", "127.0.0.1:8081"), "host:port to serve /decode (and /encode) on (CERTFLOW_CODEC_LISTEN)")
	f.StringSliceVar(&flags.origins, "cors-origin", envList("CERTFLOW_CODEC_CORS_ORIGINS"), "browser origin allowed to call the endpoints, the Web UI's, e.g. http://localhost:8233; repeatable (CERTFLOW_CODEC_CORS_ORIGINS)")
	f.StringSliceVar(&flags.namespaces, "allow-namespace", envList("CERTFLOW_CODEC_ALLOW_NAMESPACES"), "serve only requests that say they are for this Temporal namespace; repeatable; default: any. The X-Namespace header is the client's own claim, not authentication: this keeps an honest Web UI of another namespace away and stops nobody who lies (CERTFLOW_CODEC_ALLOW_NAMESPACES)")
	f.BoolVar(&flags.serveEncode, "serve-encode", envBool("CERTFLOW_CODEC_SERVE_ENCODE"), "also serve /encode, which encrypts any payload a caller sends with the payload key; the Web UI needs only /decode; without it /encode answers 404 (CERTFLOW_CODEC_SERVE_ENCODE)")
	f.IntVar(&flags.maxConcurrent, "max-concurrent", envMax, "requests decoded at once; one beyond waits up to 5s for a slot, then gets 503 with Retry-After (CERTFLOW_CODEC_MAX_CONCURRENT)")
	return cmd
}

// maxConcurrentFromEnv is the default of --max-concurrent:
// CERTFLOW_CODEC_MAX_CONCURRENT, or codec.DefaultMaxConcurrent when unset. A
// value that is not a number is reported at start, unless the flag overrides
// it, rather than silently replaced by the default.
func maxConcurrentFromEnv() (int, error) {
	v := os.Getenv("CERTFLOW_CODEC_MAX_CONCURRENT")
	if v == "" {
		return codec.DefaultMaxConcurrent, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return codec.DefaultMaxConcurrent, fmt.Errorf("CERTFLOW_CODEC_MAX_CONCURRENT=%q: not a number", v)
	}
	return n, nil
}

func serveCodec(ctx context.Context, opts *options, flags codecServerFlags) error {
	log, err := opts.logger()
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	c, err := opts.payloadCodec(ctx)
	if err != nil {
		return err
	}
	if !c.Encrypts() {
		return errors.New("codec-server needs the payload keys: set --payload-key-file or --payload-key-secret")
	}
	ln, err := net.Listen("tcp", flags.listen)
	if err != nil {
		return fmt.Errorf("codec-server: %w", err)
	}
	srv := &http.Server{
		Handler: codec.NewHandler(c, codec.ServerOptions{CORSOrigins: flags.origins, Namespaces: flags.namespaces,
			ServeEncode: flags.serveEncode, MaxConcurrent: flags.maxConcurrent}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if len(flags.origins) == 0 {
		log.Warn("no --cors-origin: the Web UI cannot call this server, the temporal CLI can")
	}
	if flags.serveEncode {
		log.Warn("--serve-encode: whoever reaches this server can have it encrypt with the payload key")
	}
	log.Info("codec server listening", "url", "http://"+ln.Addr().String(), "currentKeyID", c.CurrentKeyID(),
		"keys", opts.payloadKeySource(), "corsOrigins", flags.origins, "namespaces", flags.namespaces,
		"serveEncode", flags.serveEncode, "maxConcurrent", flags.maxConcurrent)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("codec-server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("codec-server: stopping: %w", err)
	}
	return nil
}
