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

// KernelLog says what ReadKernelLog makes of this machine's kernel log.
type KernelLog struct {
	// Follow keeps reading until the context is done.
	Follow bool
	// Replay marks the kills logged before the log was opened replayed:
	// tracing began then.
	Replay bool
	// Live, when set, says whether a live tracer saw the kill of process
	// tgid: the kills logged after the log was opened are left out where
	// it did, replayed where it did not (they came before it attached).
	Live func(tgid uint32) (bool, error)
}

// ReadKernelLog hands the pipeline the kills of this machine's kernel log,
// read from log, and returns how many records the kernel overwrote before
// they were read.
func ReadKernelLog(ctx context.Context, pipe *pipeline.Pipeline, log *kernlog.Tail, kl KernelLog) (lost int, err error) {
	// printk stamps records with the time since boot the scheduler's
	// clock keeps, which, like CLOCK_MONOTONIC, stops during a suspend.
	boot := time.Now().Add(-monotonic())
	var events []event.Event
	return log.ReadAll(ctx, kl.Follow, func(it kernlog.Item) error {
		if it.Report == nil {
			return nil
		}
		events = it.Report.Events(events[:0], kernlog.EventOptions{Boot: boot})
		for i := range events {
			ev := &events[i]
			k := &ev.OOMKill
			replayed, keep, err := kl.replayed(log.LoggedBefore(it.Report.LoggedAt(k.Victim.PID)), k.Victim.TGID)
			if err != nil {
				return err
			}
			if !keep {
				continue
			}
			k.Replayed = replayed
			if err := pipe.Process(ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// replayed says whether the kill of process tgid is replayed, from
// whether it was logged before the log was opened, or else left out
// (keep false).
func (kl KernelLog) replayed(loggedBefore bool, tgid uint32) (replayed, keep bool, err error) {
	switch {
	case !kl.Replay:
		return false, true, nil
	case loggedBefore:
		return true, true, nil
	case kl.Live == nil:
		return false, true, nil
	}
	seen, err := kl.Live(tgid)
	if err != nil {
		return false, false, err
	}
	return !seen, !seen, nil
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
	// Opened before tracing is said to begin: the kills logged until then
	// are the ones replayed.
	start := kernlog.FromNow
	if opts.SinceBoot {
		start = kernlog.FromBootMarked
	}
	log, err := kernlog.OpenTail(start)
	if err != nil {
		return Summary{}, err
	}
	defer log.Close()
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
		lost, err := ReadKernelLog(readCtx, out.pipe, log, KernelLog{Follow: true, Replay: true})
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
