package tracer

import (
	"strings"
	"testing"
)

func TestParseRingBufferSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: "65536", want: 64 << 10},
		{in: "64KiB", want: 64 << 10},
		{in: "64k", want: 64 << 10},
		{in: "16MiB", want: 16 << 20},
		{in: "16M", want: 16 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "1g", want: 1 << 30},
		{in: "3MiB", wantErr: "a ring buffer of 3MiB: the kernel needs a power of two, such as 2MiB or 4MiB"},
		{in: "100000", wantErr: "a ring buffer of 100000 bytes: the kernel needs a power of two, such as 64KiB or 128KiB"},
		{in: "4KiB", wantErr: "a ring buffer of 4KiB: want 64KiB to 1GiB"},
		{in: "2GiB", wantErr: "a ring buffer of 2GiB: want 64KiB to 1GiB"},
		{in: "99999999999999999999999G", wantErr: "want 64KiB to 1GiB"},
		{in: "0", wantErr: "want 64KiB to 1GiB"},
		{in: "", wantErr: `"" is not a size`},
		{in: "MiB", wantErr: `"MiB" is not a size`},
		{in: "16 MiB", wantErr: `"16 MiB" is not a size`},
		{in: "16MB", wantErr: `"16MB" is not a size`},
		{in: "-64KiB", wantErr: `"-64KiB" is not a size`},
		{in: "1.5GiB", wantErr: `"1.5GiB" is not a size`},
	} {
		got, err := ParseRingBufferSize(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || got != 0 {
				t.Errorf("ParseRingBufferSize(%q) = %d, %v; want an error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRingBufferSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
