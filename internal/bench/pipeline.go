package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/gfp"
	"github.com/oomtrace/oomtrace/internal/ksym"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// maxCapturedRecords bounds the records of one kind kept for replay.
const maxCapturedRecords = 20000

// capturedRecords are raw ring-buffer records, as oomtrace's BPF programs
// wrote them on this kernel, by event kind.
type capturedRecords map[event.Kind][][]byte

// captureRecords attaches oomtrace's programs in this process, with every
// reclaim episode reported, runs a short storm and one OOM kill, and keeps
// the records the kernel hands over, and the decoder that decoded them
// once: it knows the cgroups their reclaim histograms held, as oomtrace's
// decoder knows them after a record or two of each cgroup.
func (b *bencher) captureRecords(symbols tracer.Symbolizer) (capturedRecords, *tracer.Decoder, error) {
	spec := stormSpec{workers: 2, limitBytes: b.cfg.StormLimitBytes, fileBytes: b.cfg.StormFileBytes}
	st, err := newStorm(b.h, b.top+"/capture", spec, b.cfg.WorkDir)
	if err != nil {
		return nil, nil, err
	}
	defer st.remove()
	killGroup, err := b.h.Create(b.top+"/capture-kill", hogLimitBytes)
	if err != nil {
		return nil, nil, err
	}
	defer killGroup.Remove()

	t, err := tracer.Open(tracer.Config{ReclaimMin: 0})
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	decoder, err := tracer.NewDecoder(symbols, t)
	if err != nil {
		return nil, nil, err
	}
	records := make(capturedRecords)
	var decodeErr error
	readDone := make(chan error, 1)
	go func() {
		var ev event.Event
		for {
			raw, err := t.Read(true)
			if errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, ringbuf.ErrClosed) {
				readDone <- nil
				return
			}
			if err != nil {
				readDone <- err
				return
			}
			if err := decoder.Decode(raw, &ev); err != nil {
				decodeErr = err
				continue
			}
			if len(records[ev.Kind]) < maxCapturedRecords {
				records[ev.Kind] = append(records[ev.Kind], append([]byte(nil), raw...))
			}
		}
	}()
	_, stormErr := st.run(spec.workers, b.cfg.StormDuration/2)
	_, killErr := oneKill(killGroup, nil)
	detachErr := t.Detach()
	flushErr := t.Flush()
	readErr := <-readDone
	if err := errors.Join(stormErr, killErr, detachErr, flushErr, readErr, decodeErr); err != nil {
		return nil, nil, fmt.Errorf("capture records: %w", err)
	}
	for _, kind := range []event.Kind{event.KindReclaim, event.KindOOMKill} {
		if len(records[kind]) == 0 {
			return nil, nil, fmt.Errorf("capture records: the kernel handed over no %v record", kind)
		}
	}
	return records, decoder, nil
}

// The stages of the replay.
const (
	stageDecode = "decode"
	stageText   = "decode + text + write(2)"
	stageJSON   = "decode + JSON + write(2)"
	// stageAll is what oomtrace trace does with a record it read: the
	// pipeline's every stage between decoding and writing.
	stageAll = "decode + every stage + text + write(2)"
)

// flushEvery is how many records the whole pipeline replays between
// flushes: a drained batch of the ring buffer.
const flushEvery = 1024

// pipelineRow is the user-space cost of one kind of record through one
// stage of oomtrace.
type pipelineRow struct {
	kind    event.Kind
	stage   string // one of the stage constants
	records int    // distinct records replayed
	nsPerOp float64
	allocs  int64 // per record
	bytes   int64 // allocated per record
}

// pipelineScenario replays real records through oomtrace's decoder and
// writers: the work oomtrace does for every record, on one CPU.
func (b *bencher) pipelineScenario(ctx context.Context) ([]pipelineRow, error) {
	symbols, err := ksym.Load()
	if err != nil {
		return nil, err
	}
	records, decoder, err := b.captureRecords(symbols)
	if err != nil {
		return nil, err
	}
	names, err := gfp.ForKernel(btf.NewCache())
	if err != nil {
		return nil, err
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()

	var rows []pipelineRow
	for _, kind := range []event.Kind{event.KindReclaim, event.KindOOMKill} {
		for _, stage := range []struct {
			name   string
			format *output.Format
			stages bool
		}{{stageDecode, nil, false}, {stageText, ptr(output.Text), false}, {stageJSON, ptr(output.JSON), false}, {stageAll, ptr(output.Text), true}} {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
			var w *output.Writer
			if stage.format != nil {
				w = output.NewWriter(devNull, output.Options{Format: *stage.format, GFPNames: names.Append})
			}
			recs := records[kind]
			var replayErr error
			r := testing.Benchmark(func(tb *testing.B) {
				var ev event.Event
				var p *pipeline.Pipeline
				if stage.stages {
					p = pipeline.New(pipeline.Options{}, w)
				}
				tb.ReportAllocs()
				i, n := 0, 0
				for tb.Loop() {
					err := decoder.Decode(recs[i], &ev)
					switch {
					case err != nil:
					case p != nil:
						if err = p.ProcessBuffered(&ev); err == nil && n%flushEvery == flushEvery-1 {
							err = p.Flush()
						}
					case w != nil:
						err = w.Write(&ev)
					}
					if err != nil {
						replayErr = err
					}
					if i++; i == len(recs) {
						i = 0
					}
					n++
				}
				if p != nil {
					if err := p.Flush(); err != nil {
						replayErr = err
					}
				}
			})
			if replayErr != nil {
				return rows, fmt.Errorf("replay %v records through %s: %w", kind, stage.name, replayErr)
			}
			row := pipelineRow{kind: kind, stage: stage.name, records: len(recs),
				nsPerOp: float64(r.T.Nanoseconds()) / float64(max(r.N, 1)), allocs: r.AllocsPerOp(), bytes: r.AllocedBytesPerOp()}
			rows = append(rows, row)
			b.logf("pipeline %-10v %-26s %8.0f ns/record  %d allocs", kind, stage.name, row.nsPerOp, row.allocs)
		}
	}
	return rows, nil
}

func ptr[T any](v T) *T { return &v }
