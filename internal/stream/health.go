package stream

import (
	"sync"
	"sync/atomic"
)

// Health follows the ring buffer a session reads, for a monitoring agent:
// how full it is now, how full it has been at most, and how many records
// were read. Its methods are safe for concurrent use.
type Health struct {
	mu         sync.Mutex
	source     source // nil until attached
	records    atomic.Uint64
	maxPending atomic.Int64
}

// RingBuffer is a snapshot of Health.
type RingBuffer struct {
	Attached        bool
	SizeBytes       int
	PendingBytes    int    // written by the kernel, not read yet
	MaxPendingBytes int    // the most bytes left waiting after a read
	Records         uint64 // records read
}

func (h *Health) attach(s source) {
	h.mu.Lock()
	h.source = s
	h.mu.Unlock()
}

// observe counts one record read and the fill it left behind.
func (h *Health) observe(s source) {
	h.records.Add(1)
	_, pending := s.RingBuffer()
	for {
		peak := h.maxPending.Load()
		if int64(pending) <= peak || h.maxPending.CompareAndSwap(peak, int64(pending)) {
			return
		}
	}
}

// RingBuffer returns the ring buffer's state now.
func (h *Health) RingBuffer() RingBuffer {
	rb := RingBuffer{Records: h.records.Load(), MaxPendingBytes: int(h.maxPending.Load())}
	// Held while the buffer is read: the session detaches (attach(nil))
	// before the tracer, and with it the buffer, is closed.
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.source != nil {
		rb.Attached = true
		rb.SizeBytes, rb.PendingBytes = h.source.RingBuffer()
	}
	return rb
}
