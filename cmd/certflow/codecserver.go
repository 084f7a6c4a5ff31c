package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/certflow/certflow/internal/codec"
)

// codecServerFlags are the flags of `certflow codec-server`.
type codecServerFlags struct {
	listen     string
	origins    []string
	namespaces []string
}

// newCodecServerCommand builds `codec-server`: Temporal's remote codec
// endpoints, so the Web UI and the temporal CLI show the payloads certflow
// encrypted to whoever runs it with the keys.
func newCodecServerCommand(opts *options) *cobra.Command {
	var flags codecServerFlags
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Decrypt workflow payloads for the Temporal Web UI and CLI (POST /decode, /encode)",
		Long: `codec-server serves Temporal's remote codec endpoints with certflow's payload keys
(--payload-key-file or --payload-key-secret), so the Temporal Web UI
(temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081, or the UI's
codec server setting) and the temporal CLI (--codec-endpoint) show encrypted
payloads in clear. Anyone who can reach it can decrypt: keep it on loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveCodec(cmd.Context(), opts, flags)
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.listen, "listen", env("CERTFLOW_CODEC_LISTEN", "127.0.0.1:8081"), "host:port to serve /encode and /decode on (CERTFLOW_CODEC_LISTEN)")
	f.StringSliceVar(&flags.origins, "cors-origin", envList("CERTFLOW_CODEC_CORS_ORIGINS"), "browser origin allowed to call the endpoints, the Web UI's, e.g. http://localhost:8233; repeatable (CERTFLOW_CODEC_CORS_ORIGINS)")
	f.StringSliceVar(&flags.namespaces, "allow-namespace", envList("CERTFLOW_CODEC_ALLOW_NAMESPACES"), "serve only requests for this Temporal namespace (X-Namespace header); repeatable; default: any (CERTFLOW_CODEC_ALLOW_NAMESPACES)")
	return cmd
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
		Handler:           codec.NewHandler(c, codec.ServerOptions{CORSOrigins: flags.origins, Namespaces: flags.namespaces}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if len(flags.origins) == 0 {
		log.Warn("no --cors-origin: the Web UI cannot call this server, the temporal CLI can")
	}
	log.Info("codec server listening", "url", "http://"+ln.Addr().String(), "currentKeyID", c.CurrentKeyID(),
		"keys", opts.payloadKeySource(), "corsOrigins", flags.origins, "namespaces", flags.namespaces)

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
