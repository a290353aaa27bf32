package kernlog

import "errors"

// Log is what a stretch of kernel log says about OOM kills, in log order.
type Log struct {
	Kills  []Kill
	Reaped []Reaped
	// Malformed holds messages that started like an OOM report line but did
	// not parse: truncated, or not written by the kernel's format.
	Malformed []string
	// Reports are the OOM reports the kills came from.
	Reports []*Report
}

// maxMessage bounds a summary being rejoined from fragments. A record holds
// at most 1 KiB of text, so a summary has a few pieces of at most that.
const maxMessage = 16 << 10

// maxMalformed bounds the malformed lines a Log keeps.
const maxMalformed = 1000

// collector gathers the items of an Assembler into a Log.
type collector struct {
	asm  *Assembler
	done Log
}

func newCollector() *collector { return collectorOf(new(Assembler)) }

// collectorOf gathers what asm, which another reader feeds, hands out.
func collectorOf(asm *Assembler) *collector {
	c := &collector{asm: asm}
	c.asm.Warn = func(_ Stamp, line string, err error) {
		if errors.Is(err, ErrMalformed) && len(c.done.Malformed) < maxMalformed {
			c.done.Malformed = append(c.done.Malformed, line)
		}
	}
	return c
}

func (c *collector) add(m *Message) {
	c.asm.Add(m)
	c.drain()
}

func (c *collector) flush() {
	c.asm.Flush()
	c.drain()
}

func (c *collector) drain() {
	for {
		it, ok := c.asm.Pop()
		if !ok {
			return
		}
		c.done.addItem(it)
	}
}

func (l *Log) addItem(it Item) {
	if r := it.Report; r != nil {
		l.Reports = append(l.Reports, r)
		l.Kills = append(l.Kills, r.Kills()...)
		l.Reaped = append(l.Reaped, r.Reaped...)
		return
	}
	if it.Reaped != nil {
		l.Reaped = append(l.Reaped, *it.Reaped)
	}
}

// snapshot returns what was handed out and what is still being read, as a
// Log of its own.
func (c *collector) snapshot() Log {
	l := Log{
		Kills:     append([]Kill(nil), c.done.Kills...),
		Reaped:    append([]Reaped(nil), c.done.Reaped...),
		Malformed: append([]string(nil), c.done.Malformed...),
		Reports:   append([]*Report(nil), c.done.Reports...),
	}
	for _, it := range c.asm.Pending() {
		l.addItem(it)
	}
	return l
}
