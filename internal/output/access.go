package output

import (
	"fmt"
	"unsafe"

	"github.com/oomtrace/oomtrace/internal/event"
)

// at is where a value of type T lies in an Event: its offset from the
// Event's start.
//
// The schema says where each key's value is with a getter,
// func(*event.Event) *T, written as Go: &ev.Reclaim.Cgroup.Path. The getter
// of a key of a shared set (a cgroup's, a task's) is a closure over the
// getter of the set, so calling getters as each line is written cost a
// chain of indirect calls per key: about a fifth of what writing a reclaim
// line took. A getter returns a pointer to the same place in every Event,
// so the codecs call it once, when the schema is built, and keep the
// place's offset. (A histogram's getter returns a slice and is still called
// per line: the kinds that have one are rare.)
type at[T any] struct{ offset uintptr }

// atOf compiles get into the offset of the value it returns. get must be a
// path of fields from the Event, as the schema's getters are: no branch,
// no pointer followed. It panics, when the schema is built, if get returns
// a pointer outside the Event.
func atOf[T any](get func(*event.Event) *T) at[T] {
	p, base := uintptr(unsafe.Pointer(get(&probe))), uintptr(unsafe.Pointer(&probe))
	if p < base || p+unsafe.Sizeof(*new(T)) > base+unsafe.Sizeof(probe) {
		panic(fmt.Sprintf("output: a getter of %T returns a pointer outside the event", *new(T)))
	}
	return at[T]{p - base}
}

// probe is the event atOf calls getters on, one for every getter: a
// package variable, so it never moves, and the getters only take
// addresses in it.
var probe event.Event

// in returns the value's address in ev.
func (a at[T]) in(ev *event.Event) *T {
	return (*T)(unsafe.Add(unsafe.Pointer(ev), a.offset))
}
