package event

import "testing"

func TestAtLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		usage, limit uint64
		want         bool
	}{
		{32 * mib, 32 * mib, true},
		{33 * mib, 32 * mib, true},   // over: charged before reclaim
		{30*mib + 1, 32 * mib, true}, // a huge page would not fit
		{30 * mib, 32 * mib, false},  // a huge page still fits, just
		{32 * mib, NoLimit, false},
		{0, 0, false}, // not measured
	} {
		c := Cgroup{Path: "/a", UsageBytes: tc.usage, LimitBytes: tc.limit}
		if got := c.AtLimit(); got != tc.want {
			t.Errorf("usage %d limit %d: AtLimit %v, want %v", tc.usage, tc.limit, got, tc.want)
		}
	}
}
