package container

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// Process is a process of a container: its pid in the host's PID namespace
// and its name.
type Process struct {
	PID  int
	Comm string
}

// maxMainScan bounds the processes of a cgroup MainProcess looks at: a
// container's main process is among the first few (the oldest) in
// cgroup.procs, and a cgroup with thousands of processes must not make a
// kill wait on reading them all.
const maxMainScan = 256

// MainProcess finds the main process of the container whose cgroup
// directory is cgroupDir: the process in it that is PID 1 of its own PID
// namespace, the process a runtime started and whose exit status becomes the
// container's. procDir is where the host's /proc is mounted. It reports
// false when the cgroup holds no such process: the main process is gone, or
// the container shares another PID namespace (Docker's --pid=host, a pod
// whose containers share one), so that none is its own init.
//
// The answer holds when it is read: the kernel's view, not a runtime's
// record.
func MainProcess(cgroupDir, procDir string) (Process, bool) {
	f, err := os.Open(filepath.Join(cgroupDir, "cgroup.procs"))
	if err != nil {
		return Process{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && n < maxMainScan; n++ {
		pid, err := strconv.Atoi(sc.Text())
		if err != nil || pid <= 0 {
			continue
		}
		if comm, ok := namespaceInit(procDir, pid); ok {
			return Process{PID: pid, Comm: comm}, true
		}
	}
	return Process{}, false
}

// maxStatus caps what is read of /proc/PID/status: the lines wanted come
// long before the end.
const maxStatus = 8 << 10

// namespaceInit reports whether process pid is PID 1 of the PID namespace
// it lives in (the last of its NSpid numbers is 1, and it has more than
// one: the host's own init is not a container's), and returns its name.
func namespaceInit(procDir string, pid int) (string, bool) {
	b, err := readCapped(filepath.Join(procDir, strconv.Itoa(pid), "status"), maxStatus)
	if err != nil {
		return "", false
	}
	var comm string
	var isInit bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(key) {
		case "Name":
			comm = string(bytes.TrimSpace(value))
		case "NSpid":
			ids := bytes.Fields(value)
			isInit = len(ids) > 1 && string(ids[len(ids)-1]) == "1"
		}
	}
	return comm, isInit
}
