package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// machine describes where and with what the benchmark ran.
type machine struct {
	host, cpuModel, kernel, distro string
	// clocksource is the kernel's clocksource (tsc, kvm-clock, …): every
	// clock read of the BPF programs goes through it, and what one costs
	// is §1's end_clock step.
	clocksource        string
	cpus               int
	memoryBytes        uint64
	versions           [][2]string // tool, version
	statsWereOn        bool        // kernel.bpf_stats_enabled was already 1
	loadStart, loadEnd float64     // 1-minute load average
}

func describeMachine(ts tools, goBin string) machine {
	m := machine{cpus: runtime.NumCPU()}
	m.host, _ = os.Hostname()
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		m.kernel = unix.ByteSliceToString(uts.Release[:]) + " " + unix.ByteSliceToString(uts.Machine[:])
	}
	if b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource"); err == nil {
		m.clocksource = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.memoryBytes, _ = parseStatusKB(string(b), "MemTotal")
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				m.distro = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); err == nil {
		m.statsWereOn = strings.TrimSpace(string(b)) == "1"
	}
	m.loadStart = loadAverage()
	m.versions = [][2]string{
		{"oomtrace", firstLine(ts.oomtrace, "version")},
		{"bpftrace", firstLine(ts.bpftrace, "--version")},
		{"perf", firstLine(ts.perf, "--version")},
		{"go", firstLine(goBin, "version")},
	}
	return m
}

// firstLine runs bin with args and returns the first line it prints.
func firstLine(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
	return string(line)
}

// loadAverage is the 1-minute load average; NaN if unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nan
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return nan
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return nan
	}
	return v
}

// cpuSnapshot is the CPU time used so far by the whole machine and by this
// process with its children: the difference between two snapshots tells
// how busy other processes kept the machine meanwhile.
type cpuSnapshot struct {
	at   time.Time
	busy time.Duration // all CPUs, from /proc/stat
	ours time.Duration // this process and its waited-for children
}

func readCPUSnapshot() (cpuSnapshot, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSnapshot{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	busy, err := parseProcStatBusy(line)
	if err != nil {
		return cpuSnapshot{}, err
	}
	snap := cpuSnapshot{at: time.Now(), busy: busy}
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if err := unix.Getrusage(who, &ru); err != nil {
			return cpuSnapshot{}, err
		}
		snap.ours += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return snap, nil
}

// parseProcStatBusy returns the busy time of the "cpu" line of /proc/stat:
// user, nice, system, irq and softirq (guest time is already in user and
// nice; steal is time this machine did not run at all).
func parseProcStatBusy(line string) (time.Duration, error) {
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, fmt.Errorf("parse /proc/stat line %q", line)
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7} {
		if i >= len(fields) {
			break
		}
		v, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat line %q: %w", line, err)
		}
		ticks += v
	}
	const ticksPerSecond = 100 // USER_HZ, the unit of /proc/stat everywhere
	return time.Duration(ticks) * time.Second / ticksPerSecond, nil
}

// othersCores is the mean number of CPUs other processes kept busy between
// two snapshots.
func othersCores(from, to cpuSnapshot) float64 {
	return (to.busy - from.busy - (to.ours - from.ours)).Seconds() / to.at.Sub(from.at).Seconds()
}
