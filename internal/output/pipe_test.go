package output

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// fcntl is fcntl(2) of f's descriptor with cmd, as the file keeps it.
func fcntl(t *testing.T, f *os.File, cmd int) int {
	t.Helper()
	conn, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var opErr error
	if err := conn.Control(func(fd uintptr) { got, opErr = unix.FcntlInt(fd, cmd, 0) }); err != nil || opErr != nil {
		t.Fatal(err, opErr)
	}
	return got
}

func newPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func pipeSize(t *testing.T, f *os.File) int { return fcntl(t, f, unix.F_GETPIPE_SZ) }

// A Writer to a pipe grows the pipe's buffer, and leaves the pipe as it
// was otherwise: the runtime's poller still waits on it.
func TestWriterGrowsPipe(t *testing.T) {
	r, w := newPipe(t)
	if size := pipeSize(t, w); size >= PipeBytes {
		t.Fatalf("a new pipe holds %d bytes already", size)
	}
	NewWriter(w, Options{})
	if size := pipeSize(t, r); size != PipeBytes {
		t.Errorf("pipe of %d bytes after NewWriter, want %d", size, PipeBytes)
	}
	if fcntl(t, w, unix.F_GETFL)&unix.O_NONBLOCK == 0 {
		t.Error("the pipe was put in blocking mode")
	}
}

// A larger buffer is kept, and what is not a pipe is left alone.
func TestGrowPipeOnlyGrowsPipes(t *testing.T) {
	_, w := newPipe(t)
	if grown, err := GrowPipe(w); !grown || err != nil {
		t.Fatalf("GrowPipe: %v, %v", grown, err)
	}
	if grown, err := growPipe(w, PipeBytes/4); !grown || err != nil || pipeSize(t, w) != PipeBytes {
		t.Errorf("growing a pipe of %d bytes to %d: %v, %v; now %d bytes", PipeBytes, PipeBytes/4, grown, err, pipeSize(t, w))
	}

	file, err := os.Create(filepath.Join(t.TempDir(), "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if grown, err := GrowPipe(file); grown || err != nil {
		t.Errorf("GrowPipe on a regular file: %v, %v", grown, err)
	}
	var discard discardWriter
	if grown, err := GrowPipe(discard); grown || err != nil {
		t.Errorf("GrowPipe on a writer that is no file: %v, %v", grown, err)
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
