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

// hold opens n connections to addr, each served a request and kept open
// until the test ends.
func hold(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var held []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		get(t, c)
		held = append(held, c)
	}
	return held
}

// ask opens one more connection to addr and sends it a request, without
// waiting for the answer.
func ask(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	return c
}

// A client cannot hold the agent's memory: an idle kept-alive connection
// is closed, and connections past the limit wait to be accepted.
func TestClientLimits(t *testing.T) {
	l := limits{connections: 2, perClient: 10, scrapes: 1, headers: 5 * time.Second, request: 5 * time.Second, idle: 200 * time.Millisecond}
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

	held := hold(t, addr, l.connections)
	extra := ask(t, addr)
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

// One client cannot hold every connection: past its share, its next
// connections are closed at once, and another client's still served.
func TestOneClientsShare(t *testing.T) {
	l := limits{connections: 10, perClient: 2, scrapes: 1, headers: 5 * time.Second, request: 5 * time.Second, idle: time.Minute}
	addr := serve(t, l)
	held := hold(t, addr, l.perClient)
	extra := ask(t, addr)
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection past the client's share: read %d bytes, %v; want it closed", n, err)
	}
	// Another address is another client.
	other, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	get(t, other)
	// Once one of its connections closes, the client gets its place back.
	held[0].Close()
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		again.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(again, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(again), nil); err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client's place was not given back")
		}
		// The server may have taken the new connection before the old
		// one's close reached it.
		again.Close()
		time.Sleep(20 * time.Millisecond)
		if again, err = net.Dial("tcp", addr); err != nil {
			t.Fatal(err)
		}
	}
}
