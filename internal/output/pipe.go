package output

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// PipeBytes is the buffer a Writer asks the kernel for when its lines go
// to a pipe or FIFO: sixteen batches of lines (BufferSize), and the most an
// unprivileged process may ask by default (/proc/sys/fs/pipe-max-size).
// With a pipe's default buffer, one batch, the writer waits for its reader
// after every batch, and each wait costs both a switch of tasks: draining a
// backlog, the writer spent more time waiting on its reader than writing
// lines, and the ring buffer behind it went on filling while it waited.
const PipeBytes = 1 << 20

// GrowPipe enlarges the buffer of w to PipeBytes if w is a pipe or FIFO
// with a smaller one; it never shrinks a buffer, and leaves anything else
// alone. It reports whether the buffer has PipeBytes or more now.
func GrowPipe(w io.Writer) (bool, error) { return growPipe(w, PipeBytes) }

func growPipe(w io.Writer, bytes int) (bool, error) {
	f, ok := w.(*os.File)
	if !ok {
		return false, nil
	}
	// Through the file's raw descriptor: Fd would put the file in blocking
	// mode.
	conn, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var grown bool
	var opErr error
	err = conn.Control(func(fd uintptr) {
		var st unix.Stat_t
		if opErr = unix.Fstat(int(fd), &st); opErr != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return
		}
		var size int
		if size, opErr = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); opErr != nil || size >= bytes {
			grown = opErr == nil
			return
		}
		_, opErr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, bytes)
		grown = opErr == nil
	})
	return grown, errors.Join(err, opErr)
}
