package bench

import (
	"math"
	"slices"
)

var nan = math.NaN()

// sample is a set of measurements of one figure, over rounds or events.
type sample []float64

// sorted returns the finite values of s in increasing order.
func (s sample) sorted() []float64 {
	out := make([]float64, 0, len(s))
	for _, v := range s {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// median is the middle value (the mean of the two middle ones for an even
// count); NaN for no values.
func (s sample) median() float64 {
	v := s.sorted()
	n := len(v)
	switch {
	case n == 0:
		return nan
	case n%2 == 1:
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100): the
// smallest value at least p% of the values are at or below. With fewer
// than 100 values, p99 is the largest.
func (s sample) percentile(p float64) float64 {
	v := s.sorted()
	if len(v) == 0 {
		return nan
	}
	rank := int(math.Ceil(p / 100 * float64(len(v))))
	return v[min(max(rank, 1), len(v))-1]
}

func (s sample) min() float64 {
	v := s.sorted()
	if len(v) == 0 {
		return nan
	}
	return v[0]
}

func (s sample) max() float64 {
	v := s.sorted()
	if len(v) == 0 {
		return nan
	}
	return v[len(v)-1]
}

// spread is (max - min) / median: how far apart rounds of the same
// measurement landed.
func (s sample) spread() float64 {
	return (s.max() - s.min()) / s.median()
}

// ratio is a / b, NaN when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return nan
	}
	return a / b
}

// rangeCoverage is the confidence of the widest interval medianInterval
// gives over n values, from the lowest to the highest: it misses the
// median only when all n fall on one side of it.
func rangeCoverage(n int) float64 { return 1 - 2*math.Pow(0.5, float64(n)) }

// medianInterval is a confidence interval of the median of the population
// s was drawn from, assuming nothing of its distribution: from the k-th
// smallest to the k-th largest value, where k is the largest rank for which
// fewer than k values fall below the median with a chance of at most
// (1-level)/2 (B ~ Binomial(n, ½)). coverage is the interval's own
// confidence, 1 - 2·P(B < k). With too few values to reach level the
// interval is the whole range (five values cover the median 94% of the
// time). NaNs for no values.
func (s sample) medianInterval(level float64) (lo, hi, coverage float64) {
	v := s.sorted()
	n := len(v)
	if n == 0 {
		return nan, nan, nan
	}
	tail := (1 - level) / 2
	k := 1
	p0 := math.Pow(0.5, float64(n))
	below := (1 - rangeCoverage(n)) / 2 // P(B < k), for k = 1: p0
	term := float64(n) * p0             // P(B = k)
	for k < (n+1)/2 && below+term <= tail {
		below += term
		k++
		term *= float64(n-k+1) / float64(k)
	}
	return v[k-1], v[n-k], 1 - 2*below
}
