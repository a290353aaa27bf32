// Package agent runs oomtrace as a long-lived node agent: the tracer, its
// Prometheus metrics, and health endpoints for the orchestrator.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/metrics"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/stream"
)

// Options configures Run.
type Options struct {
	// Listen is the address of the HTTP server (/metrics, /healthz,
	// /readyz).
	Listen string
	// WebConfigFile, when set, is a web configuration file in the format
	// of Prometheus' exporters (exporter-toolkit): TLS and basic auth for
	// every endpoint. It is read again for each new connection, so that
	// certificates and passwords can be changed without a restart.
	WebConfigFile string
	// Stream says how to trace; its Sinks, when set, receive every event
	// too (JSON Lines for log shippers), and its OnReady is called once the
	// agent is attached and serving.
	Stream  stream.Options
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Run serves until ctx is done or tracing fails.
func Run(ctx context.Context, opts Options) error {
	logger := opts.Logger
	if opts.WebConfigFile != "" {
		if err := web.Validate(opts.WebConfigFile); err != nil {
			return fmt.Errorf("web config %s: %w", opts.WebConfigFile, err)
		}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("listen for metrics: %w", err)
	}
	if !isLoopback(ln.Addr()) {
		logger.Warn("serving metrics beyond this host", "address", ln.Addr().String())
	}

	var attached, stopped atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, attached.Load(), "attached", "not attached yet")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, attached.Load() && !stopped.Load(), "attached and reading", "not tracing")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	if opts.WebConfigFile != "" {
		noSocket := false
		flags := &web.FlagConfig{WebListenAddresses: &[]string{opts.Listen}, WebSystemdSocket: &noSocket, WebConfigFile: &opts.WebConfigFile}
		go func() { served <- web.Serve(ln, srv, flags, logger) }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}

	so := opts.Stream
	so.Health = new(stream.Health)
	opts.Metrics.WatchRingBuffer(so.Health)
	so.Sinks = append([]pipeline.Sink{opts.Metrics}, so.Sinks...)
	so.OnReady = func(mode event.Mode) error {
		opts.Metrics.Attached(mode)
		attached.Store(true)
		logger.Info("serving", "address", ln.Addr().String(), "mode", mode)
		if opts.Stream.OnReady != nil {
			return opts.Stream.OnReady(mode)
		}
		return nil
	}
	_, err = stream.Run(ctx, so)
	stopped.Store(true)

	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil {
		err = errors.Join(err, fmt.Errorf("stop metrics server: %w", serr))
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("metrics server: %w", serr))
	}
	return err
}

func status(w http.ResponseWriter, ok bool, good, bad string) {
	if !ok {
		http.Error(w, bad, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, good)
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
