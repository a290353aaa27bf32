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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"

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
	ln, err := listen(opts.Listen, clientLimits)
	if err != nil {
		return fmt.Errorf("listen for metrics: %w", err)
	}
	if !isLoopback(ln.Addr()) {
		logger.Warn("serving metrics beyond this host", "address", ln.Addr().String())
	}

	var attached, stopped atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Metrics.Registry, promhttp.HandlerOpts{
		MaxRequestsInFlight: clientLimits.scrapes, Timeout: clientLimits.scrape,
	}))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, attached.Load(), "attached", "not attached yet")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, attached.Load() && !stopped.Load(), "attached and reading", "not tracing")
	})
	srv := newServer(mux, clientLimits)
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

// limits bound what the metrics server's clients can hold of the agent, a
// process with a memory limit of its own on a node where any pod may reach
// its port: without them an idle keep-alive connection was kept forever,
// each with a goroutine, buffers and a file descriptor. One client cannot
// take every connection either, and so keep the kubelet's probes and
// Prometheus out.
type limits struct {
	connections int // open at once; more wait to be accepted
	perClient   int // open at once from one address; more are closed
	scrapes     int // /metrics requests served at once; more get 503
	// headers bounds the reading of a request's headers, request the
	// reading of the whole request and the writing of its response, idle
	// the wait for the next request on a kept-alive connection. A scrape
	// gives up before its response's deadline, so that its 503 is written.
	headers, request, scrape, idle time.Duration
}

// clientLimits leave room for several Prometheus servers, the kubelet's
// probes and a person with curl, scraping as often as once a second; a
// connection costs the agent some 20 KB.
var clientLimits = limits{connections: 512, perClient: 16, scrapes: 8,
	headers: 5 * time.Second, request: 30 * time.Second, scrape: 25 * time.Second, idle: time.Minute}

// listen listens on addr for at most l.connections at once, and
// l.perClient from one address.
func listen(addr string, l limits) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(&perClientListener{Listener: ln, max: l.perClient, open: map[string]int{}}, l.connections), nil
}

// perClientListener closes the connections of an address that has max
// open already.
type perClientListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int // by remote address, without its port
}

func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(client); err == nil {
			client = host
		}
		l.mu.Lock()
		full := l.open[client] >= l.max
		if !full {
			l.open[client]++
		}
		l.mu.Unlock()
		if full {
			c.Close()
			continue
		}
		return &clientConn{Conn: c, release: sync.OnceFunc(func() { l.closed(client) })}, nil
	}
}

func (l *perClientListener) closed(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client)
	}
}

// clientConn gives its client's place back when it closes.
type clientConn struct {
	net.Conn
	release func()
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func newServer(handler http.Handler, l limits) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: l.headers, ReadTimeout: l.request, WriteTimeout: l.request, IdleTimeout: l.idle}
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
