package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The kernel writes every message whose level is under the console log
// level to its consoles, in the context of the task that printed it, and a
// legacy console driver (the 8250 UART of a VM's serial console) writes with
// interrupts off on that CPU. An OOM kill's "Killed process" line is at
// KERN_ERR, printed by the task whose charge failed right after
// oom:mark_victim fires: while a slow console prints it, that CPU cannot run
// the ring buffer's reader.

const (
	printkSysctl = "/proc/sys/kernel/printk"
	kernErr      = 3 // KERN_ERR, the level of the kernel's "Killed process" line
	// consoleTimingLines is how many error-level lines the harness writes
	// to the kernel log to time the console.
	consoleTimingLines = 5
)

// kernelConsole is the kernel console as the latency scenario found it.
type kernelConsole struct {
	names []string // the consoles of /proc/consoles
	level int      // console_loglevel: messages under it are printed
	// errLine is the time write(2) of one KERN_ERR line to /dev/kmsg took,
	// each: the kernel prints it to every console before it returns.
	errLine sample
}

func readKernelConsole() (kernelConsole, error) {
	var c kernelConsole
	b, err := os.ReadFile("/proc/consoles")
	if err != nil {
		return c, fmt.Errorf("kernel console: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			c.names = append(c.names, f[0])
		}
	}
	if c.level, err = consoleLevel(); err != nil {
		return c, err
	}
	return c, nil
}

// consoleLevel reads console_loglevel, the first field of the printk sysctl.
func consoleLevel() (int, error) {
	b, err := os.ReadFile(printkSysctl)
	if err != nil {
		return 0, fmt.Errorf("console log level: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("console log level: %s is empty", printkSysctl)
	}
	level, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, fmt.Errorf("console log level: %s: %w", printkSysctl, err)
	}
	return level, nil
}

// setConsoleLevel sets console_loglevel alone: the kernel leaves the
// sysctl's other fields as they are when it is given one number.
func setConsoleLevel(level int) error {
	if err := os.WriteFile(printkSysctl, []byte(strconv.Itoa(level)), 0); err != nil {
		return fmt.Errorf("set the console log level to %d: %w", level, err)
	}
	return nil
}

// printsKills reports whether the kernel prints its "Killed process" lines
// to a console.
func (c kernelConsole) printsKills() bool {
	return len(c.names) > 0 && c.level > kernErr
}

// timeErrorLines writes a few error-level lines, which say what they are,
// to the kernel log and times each: what printing a kill's line to the
// consoles costs the killing task.
func (c *kernelConsole) timeErrorLines() error {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("time the kernel console: %w", err)
	}
	defer f.Close()
	for i := range consoleTimingLines {
		line := fmt.Sprintf("<%d>oombench: a line at error level, written to time the kernel console (%d of %d)\n",
			kernErr, i+1, consoleTimingLines)
		began := time.Now()
		if _, err := f.WriteString(line); err != nil {
			return fmt.Errorf("time the kernel console: %w", err)
		}
		c.errLine = append(c.errLine, float64(time.Since(began)))
	}
	return nil
}

// quieten keeps the kernel's "Killed process" lines off the consoles until
// restore is called; restore puts the log level back.
func (c kernelConsole) quieten() (restore func() error, err error) {
	if err := setConsoleLevel(kernErr); err != nil {
		return nil, err
	}
	return func() error { return setConsoleLevel(c.level) }, nil
}
