package stream

import (
	"errors"
	"testing"
)

// A kill read from the kernel log is replayed when it was logged before
// the log was opened; one logged after is live in mode kmsg, and beside a
// live tracer left out where the tracer saw it, replayed where it did
// not (it came before the tracer attached).
func TestKernelLogReplayed(t *testing.T) {
	seenBy := func(tgids ...uint32) func(uint32) (bool, error) {
		return func(tgid uint32) (bool, error) {
			for _, seen := range tgids {
				if seen == tgid {
					return true, nil
				}
			}
			return false, nil
		}
	}
	for _, tc := range []struct {
		name           string
		kl             KernelLog
		loggedBefore   bool
		replayed, keep bool
	}{
		{"explain: before", KernelLog{}, true, false, true},
		{"explain: after", KernelLog{}, false, false, true},
		{"kmsg: before", KernelLog{Replay: true}, true, true, true},
		{"kmsg: after", KernelLog{Replay: true}, false, false, true},
		{"live: before, seen", KernelLog{Replay: true, Live: seenBy(7)}, true, true, true},
		{"live: after, seen", KernelLog{Replay: true, Live: seenBy(7)}, false, false, false},
		{"live: after, not seen", KernelLog{Replay: true, Live: seenBy(8)}, false, true, true},
	} {
		replayed, keep, err := tc.kl.replayed(tc.loggedBefore, 7)
		if err != nil || replayed != tc.replayed || keep != tc.keep {
			t.Errorf("%s: replayed %v keep %v (%v), want %v %v", tc.name, replayed, keep, err, tc.replayed, tc.keep)
		}
	}
	broken := errors.New("map gone")
	kl := KernelLog{Replay: true, Live: func(uint32) (bool, error) { return false, broken }}
	if _, _, err := kl.replayed(false, 7); !errors.Is(err, broken) {
		t.Errorf("a tracer that cannot say what it saw: %v, want its error", err)
	}
}
