package verdict

import (
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
)

// Whether the victim was its container's main process is said after the
// limit: a child killed while the main process lives on is the kill a
// runtime reports with exit code 0.
func TestExplainMainProcess(t *testing.T) {
	ctr := attribute(apiPath, withName(shopNames, "api"))
	for _, c := range []struct {
		name string
		main event.Task
		want string
		not  string
	}{
		{"child", event.Task{PID: 4000, TGID: 4000, Comm: "sh"}, `; the container's main process "sh" (pid 4000) was not killed and lives on`, "it was the container's main process"},
		{"main", event.Task{PID: 4242, TGID: 4242, Comm: "java"}, "; it was the container's main process", "lives on"},
		{"unknown", event.Task{}, "; memcg OOM", "main process"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := javaKill()
			ev.OOMKill.VictimMain = c.main
			why := Explain(input{Event: &ev, Victim: ctr, OOM: ctr}.attributed())
			if !strings.HasSuffix(why, c.want) || strings.Contains(why, c.not) {
				t.Errorf("verdict %q: want it to end with %q, without %q", why, c.want, c.not)
			}
		})
	}
	// Outside a container there is no main process to speak of.
	plain := javaKill()
	plain.OOMKill.Victim.Cgroup.Path = "/batch"
	plain.OOMKill.VictimMain = event.Task{PID: 1, TGID: 1, Comm: "init"}
	if why := Explain(input{Event: &plain}.attributed()); strings.Contains(why, "main process") {
		t.Errorf("verdict %q speaks of a main process outside a container", why)
	}
}

// A container whose runtime the path does not say is "container <id>".
func TestExplainRuntimeUnknown(t *testing.T) {
	ev := javaKill()
	path := "/limited/" + id3
	ev.OOMKill.Victim.Cgroup.Path = path
	ev.OOMKill.OOMCgroup.Path = path
	owner := container.Parse(path)
	why := Explain(input{Event: &ev, Victim: owner, OOM: owner}.attributed())
	if want := `"java" (pid 4242) in container ` + id3[:12] + " was killed"; !strings.HasPrefix(why, want) {
		t.Errorf("verdict %q, want it to start %q", why, want)
	}
}
