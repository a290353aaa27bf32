package bench

// The reclaim steps (reclaim_steps.go) are generated from bpf/ and
// committed like the tracer's objects; `make generate` runs this.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target amd64,arm64 reclaimSteps ../../bpf/reclaim_steps.bpf.c -- -I../../bpf
