package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainProcess(t *testing.T) {
	dir := t.TempDir()
	cg, proc := filepath.Join(dir, "cg"), filepath.Join(dir, "proc")
	status := func(pid, name, nspid string) {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		body := "Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" + pid + "\nNSpid:\t" + nspid + "\n"
		if err := os.WriteFile(filepath.Join(proc, pid, "status"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	procs := func(pids ...string) {
		if err := os.MkdirAll(cg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strings.Join(pids, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	status("1", "systemd", "1")            // the host's init
	status("4100", "hog", "4100\t7")       // a child in a container
	status("4000", "sh", "4000\t1")        // the container's init
	status("4200", "nested", "4200\t3\t1") // init of a namespace two levels down

	procs("4100", "4000")
	if got, ok := MainProcess(cg, proc); !ok || got != (Process{PID: 4000, Comm: "sh"}) {
		t.Errorf("got %+v %v, want sh 4000", got, ok)
	}
	procs("4200")
	if got, ok := MainProcess(cg, proc); !ok || got.PID != 4200 {
		t.Errorf("nested namespace: got %+v %v", got, ok)
	}
	// The host's init, a gone process, a child: no main process.
	procs("1", "4999", "4100", "x")
	if got, ok := MainProcess(cg, proc); ok {
		t.Errorf("found %+v where there is no container init", got)
	}
	if _, ok := MainProcess(filepath.Join(dir, "missing"), proc); ok {
		t.Error("found a main process of a missing cgroup")
	}
}
