package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// KernelLog says which of this machine's kernel log ReadKernelLog reads.
type KernelLog struct {
	// SinceBoot reads the records already in the kernel's buffer, not only
	// those logged from now on.
	SinceBoot bool
	// Follow keeps reading until the context is done.
	Follow bool
	// Now is CLOCK_MONOTONIC when tracing began: kills logged before it
	// are marked replayed. When Live is set, kills logged after it are
	// left out, because a live tracer reports them.
	Now  time.Duration
	Live bool
}

// ReadKernelLog hands the pipeline the kills of this machine's kernel log,
// read from /dev/kmsg, and returns how many records the kernel overwrote
// before they were read.
func ReadKernelLog(ctx context.Context, pipe *pipeline.Pipeline, kl KernelLog) (lost int, err error) {
	// printk stamps records with the time since boot the scheduler's
	// clock keeps, which, like CLOCK_MONOTONIC, stops during a suspend.
	boot := time.Now().Add(-monotonic())
	var events []event.Event
	return kernlog.ReadKmsg(ctx, kernlog.KmsgOptions{Follow: kl.Follow, FromNow: !kl.SinceBoot}, func(it kernlog.Item) error {
		if it.Report == nil {
			return nil
		}
		events = it.Report.Events(events[:0], kernlog.EventOptions{Boot: boot})
		for i := range events {
			ev := &events[i]
			before := !ev.Missing.Lacks(event.MissingKtime) && time.Duration(ev.KtimeNS) < kl.Now
			if kl.Live && !before {
				continue
			}
			ev.OOMKill.Replayed = before
			if err := pipe.Process(ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// monotonic is CLOCK_MONOTONIC now.
func monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0 // cannot fail on Linux with a valid clock id
	}
	return time.Duration(ts.Nano())
}

// kernelLogCannot lists the settings of cfg the kernel log cannot honour:
// asked for with mode kmsg, they are an error rather than settings
// silently dropped, and where auto falls back to the log, a warning.
func kernelLogCannot(cfg tracer.Config) []string {
	var settings []string
	if cfg.RingBufferBytes != 0 {
		settings = append(settings, "--ring-buffer (the log has no ring buffer)")
	}
	if cfg.Events != 0 && cfg.Events&tracer.EventsOOM == 0 {
		settings = append(settings, fmt.Sprintf("--events %s (the log has only the OOM kills, which it leaves out)", cfg.Events))
	}
	return settings
}

// runKernelLog is Run without BPF: the kills come from the kernel's own
// reports in its log, as they are logged.
func runKernelLog(ctx context.Context, opts Options, logger *slog.Logger) (Summary, error) {
	protectSelf(logger)
	opts.KernelReport = false // the kills come from the log, with their reports
	out, err := newOutput(opts, logger)
	if err != nil {
		return Summary{}, err
	}
	defer out.close()
	s := &session{opts: opts, pipe: out.pipe, sampler: out.sampler, logger: logger}
	now := monotonic()
	if opts.OnReady != nil {
		if err := opts.OnReady(event.ModeKmsg); err != nil {
			return s.summary(event.ModeKmsg), err
		}
	}
	samplingFailed, stopSampling := s.startSampling()
	defer stopSampling()
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	read := make(chan error, 1)
	go func() {
		lost, err := ReadKernelLog(readCtx, out.pipe, KernelLog{SinceBoot: opts.SinceBoot, Follow: true, Now: now})
		s.lost.Store(uint64(lost))
		read <- err
	}()
	select {
	case err = <-read:
	case err = <-samplingFailed:
		stopReading()
		<-read
	case err = <-out.followUpFailed():
		stopReading()
		<-read
	}
	stopSampling()
	err = errors.Join(err, out.finish())
	summary := s.summary(event.ModeKmsg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return summary, fmt.Errorf("read the kernel log: %w", err)
	}
	if n := summary.Lost; n > 0 {
		logger.Warn("kernel log records were overwritten before they were read", "records", n)
	}
	return summary, s.emitSamples()
}
