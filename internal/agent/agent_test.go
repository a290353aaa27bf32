package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// serve runs the metrics server's setup with l on a loopback port and
// returns its address.
func serve(t *testing.T, l limits) string {
	t.Helper()
	ln, err := listen("127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }), l)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// get sends one keep-alive request on conn and reads its response.
func get(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// A client cannot hold the agent's memory: an idle kept-alive connection
// is closed, and connections past the limit wait to be accepted.
func TestClientLimits(t *testing.T) {
	l := limits{connections: 2, scrapes: 1, headers: 5 * time.Second, request: 5 * time.Second, idle: 200 * time.Millisecond}
	addr := serve(t, l)

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	get(t, idle)
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("an idle kept-alive connection: read %v, want it closed", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("the idle connection was closed after %v", waited)
	}

	var held []net.Conn
	for range l.connections {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		get(t, c)
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	io.WriteString(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	extra.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := extra.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection past the limit was served: %v", err)
	}
	// Once a held connection goes, the waiting one is served.
	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(extra), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the waiting connection, once one closed: %v, %v", resp, err)
	}
}
