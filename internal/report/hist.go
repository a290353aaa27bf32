package report

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets, in a fixed amount of
// memory however many it counts: exact below 64 ns, then every power of two
// split into 64 equal buckets. A quantile read from it is the middle of the
// bucket that holds the true value, so it is off by at most half a bucket:
// 1/128 (0.8%) of the value.
type histogram struct {
	groups [groups]*[subBuckets]uint64 // allocated when first used
	count  uint64
	min    uint64
	max    uint64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
	groups     = 64 - subBits + 1 // group 0 below 64 ns, then one per power of two
)

// QuantileError is the largest relative error of a quantile read from the
// histogram, for values it was given one by one.
const QuantileError = 1.0 / (2 * subBuckets)

func bucketOf(v uint64) (group, sub int) {
	if v < subBuckets {
		return 0, int(v)
	}
	exp := bits.Len64(v) - 1 // v is in [2^exp, 2^(exp+1))
	return exp - subBits + 1, int(v>>(exp-subBits)) & (subBuckets - 1)
}

// middle is the value a bucket stands for.
func middle(group, sub int) uint64 {
	if group == 0 {
		return uint64(sub)
	}
	shift := group - 1 // bucket width is 2^shift
	low := uint64(subBuckets+sub) << shift
	return low + (uint64(1)<<shift)/2
}

// add counts n values of v.
func (h *histogram) add(v, n uint64) {
	if n == 0 {
		return
	}
	g, s := bucketOf(v)
	if h.groups[g] == nil {
		h.groups[g] = new([subBuckets]uint64)
	}
	h.groups[g][s] += n
	if h.count == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.count += n
}

func (h *histogram) merge(o *histogram) {
	if o.count == 0 {
		return
	}
	for g, counts := range o.groups {
		if counts == nil {
			continue
		}
		if h.groups[g] == nil {
			h.groups[g] = new([subBuckets]uint64)
		}
		for s, n := range counts {
			h.groups[g][s] += n
		}
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
}

// quantile returns the value of rank ceil(q×count) (the nearest-rank
// definition: p99 of 100 values is the 99th smallest); 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	switch rank {
	case 1:
		return time.Duration(h.min)
	case h.count:
		return time.Duration(h.max)
	}
	var seen uint64
	for g, counts := range h.groups {
		if counts == nil {
			continue
		}
		for s, n := range counts {
			if seen += n; seen >= rank {
				return time.Duration(min(max(middle(g, s), h.min), h.max))
			}
		}
	}
	return time.Duration(h.max)
}

// kernelBucketValue is the value that stands for the episodes of the
// kernel's log2 bucket b ([2^b, 2^(b+1)) µs; bucket 0 from 0) whose exact
// durations are unknown: the geometric middle, within a factor of √2 of
// each of them. Those episodes were all shorter than below (the reclaim
// event threshold, when known), so the value is kept under it.
func kernelBucketValue(b int, below time.Duration) uint64 {
	lo := float64(time.Microsecond) * math.Ldexp(1, b)
	hi := 2 * lo
	if b == 0 {
		lo = 0
	}
	if below > 0 && float64(below) < hi && float64(below) > lo {
		hi = float64(below)
	}
	if lo == 0 {
		return uint64(hi / 2)
	}
	return uint64(math.Sqrt(lo * hi))
}
