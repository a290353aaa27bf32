package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// markVictimForm is the signature of the oom:mark_victim tracepoint.
type markVictimForm int

const (
	// markVictimTask is mark_victim(struct task_struct *task, uid_t uid):
	// mainline 6.9 and the 2025 stable backports.
	markVictimTask markVictimForm = iota
	// markVictimPidOnly is the older mark_victim(int pid).
	markVictimPidOnly
)

func (f markVictimForm) String() string {
	if f == markVictimPidOnly {
		return "mark_victim(int pid)"
	}
	return "mark_victim(struct task_struct *, uid_t)"
}

// detectMarkVictim tells the two forms apart by the tracepoint's BTF
// prototype, never by kernel version: the new form was backported to stable
// branches in point releases.
func detectMarkVictim(kernel *btf.Spec) (markVictimForm, error) {
	params, err := tracepointParams(kernel, "mark_victim")
	if err != nil {
		return 0, err
	}
	// The first parameter is the tracepoint's private data pointer.
	switch len(params) {
	case 3:
		return markVictimTask, nil
	case 2:
		return markVictimPidOnly, nil
	}
	return 0, fmt.Errorf("oom:mark_victim has %d parameters in kernel BTF, want 2 or 3: unknown kernel, please report it", len(params))
}

// tracepointParams returns the BTF parameters of tracepoint name, from the
// btf_trace_<name> typedef the kernel emits for every tracepoint.
func tracepointParams(kernel *btf.Spec, name string) ([]btf.FuncParam, error) {
	var typedef *btf.Typedef
	if err := kernel.TypeByName("btf_trace_"+name, &typedef); err != nil {
		return nil, fmt.Errorf("tracepoint %s not found in kernel BTF: %w", name, err)
	}
	ptr, ok := typedef.Type.(*btf.Pointer)
	if !ok {
		return nil, fmt.Errorf("btf_trace_%s is not a function pointer", name)
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return nil, fmt.Errorf("btf_trace_%s is not a function pointer", name)
	}
	return proto.Params, nil
}

// prototype writes a tracepoint's parameters as C, without the leading
// private-data pointer: "int, gfp_t".
func prototype(params []btf.FuncParam) string {
	var b strings.Builder
	for i, p := range params {
		if i == 0 {
			continue
		}
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString(cType(p.Type))
	}
	return b.String()
}

// cType names a BTF type the way C spells it: "gfp_t", "struct mem_cgroup *".
func cType(t btf.Type) string {
	switch v := btf.QualifiedType(t).(type) {
	case *btf.Pointer:
		return cType(v.Target) + " *"
	case *btf.Struct:
		return "struct " + v.Name
	case *btf.Union:
		return "union " + v.Name
	case *btf.Enum:
		return "enum " + v.Name
	case *btf.Void:
		return "void"
	default:
		if name := v.TypeName(); name != "" {
			return name
		}
		return fmt.Sprint(v)
	}
}

func hasTracepoint(kernel *btf.Spec, name string) bool {
	_, err := tracepointParams(kernel, name)
	return err == nil
}

// Capability bits (linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

var errPrivileges = errors.New("tracing needs root, or the capabilities CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): run it with sudo")

// checkPrivileges fails early, with one sentence, where loading would fail
// with a bare EPERM.
func checkPrivileges() error {
	eff, err := effectiveCapabilities()
	if err != nil {
		return fmt.Errorf("read own capabilities: %w", err)
	}
	if eff&(1<<capSysAdmin) != 0 || (eff&(1<<capBPF) != 0 && eff&(1<<capPerfmon) != 0) {
		return nil
	}
	return errPrivileges
}

func effectiveCapabilities() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}
