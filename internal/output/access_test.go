package output

import (
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

// The offset atOf keeps leads to the value the getter returns, for a value
// at the Event's top level, deep in it, and through a chain of getters as
// the schema's sets of keys build them.
func TestAtOf(t *testing.T) {
	ev := new(event.Event)
	victim := func(ev *event.Event) *event.Victim { return &ev.OOMKill.Victim }
	cgroup := func(ev *event.Event) *event.Cgroup { return &victim(ev).Cgroup }
	owner := atOf(func(ev *event.Event) *event.Owner { return &cgroup(ev).Owner })

	if got, want := atOf(func(ev *event.Event) *uint64 { return &ev.KtimeNS }).in(ev), &ev.KtimeNS; got != want {
		t.Errorf("KtimeNS: at %p, want %p", got, want)
	}
	if got, want := atOf(func(ev *event.Event) *string { return &ev.Reclaim.Cgroup.Path }).in(ev), &ev.Reclaim.Cgroup.Path; got != want {
		t.Errorf("Reclaim.Cgroup.Path: at %p, want %p", got, want)
	}
	if got, want := atOf(func(ev *event.Event) *uint64 { return &cgroup(ev).LimitBytes }).in(ev), &ev.OOMKill.Victim.Cgroup.LimitBytes; got != want {
		t.Errorf("victim's cgroup limit: at %p, want %p", got, want)
	}
	if got, want := owner.in(ev), &ev.OOMKill.Victim.Cgroup.Owner; got != want {
		t.Errorf("victim's cgroup owner: at %p, want %p", got, want)
	}

	// Through the offset, a value is read and written where the event has it.
	ev.OOMKill.Victim.Cgroup.Owner.Name = "web"
	if got := owner.in(ev).Name; got != "web" {
		t.Errorf("read %q through the offset, want %q", got, "web")
	}
	limit := atOf(func(ev *event.Event) *uint64 { return &cgroup(ev).LimitBytes })
	*limit.in(ev) = 4096
	if ev.OOMKill.Victim.Cgroup.LimitBytes != 4096 {
		t.Errorf("wrote through the offset, event has %d", ev.OOMKill.Victim.Cgroup.LimitBytes)
	}
}

var outside uint64

// A getter that does not point into the event cannot be kept as an offset:
// the schema fails to build, saying so, rather than read stray memory.
func TestAtOfOutside(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "outside the event") {
			t.Errorf("panic %q, want one saying the getter points outside the event", msg)
		}
	}()
	atOf(func(*event.Event) *uint64 { return &outside })
	t.Error("atOf kept a getter that points outside the event")
}
