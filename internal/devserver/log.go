package devserver

import (
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLog routes the embedded server's own log to zerolog, quietly: the
// server is chatty and its warnings rarely concern a dev server's user, so
// its info goes to trace, its warnings to debug and its errors to warn. Once
// the server is stopping, its errors (routine during shutdown) go to debug.
type serverLog struct {
	z        zerolog.Logger
	stopping *atomic.Bool
}

var (
	_ log.Logger     = serverLog{}
	_ log.WithLogger = serverLog{}
)

func newServerLog(z zerolog.Logger) serverLog {
	return serverLog{z: z.With().Str("component", "temporal-server").Logger(), stopping: new(atomic.Bool)}
}

func (l serverLog) Debug(string, ...tag.Tag)           {}
func (l serverLog) Info(msg string, tags ...tag.Tag)   { l.emit(l.z.Trace(), msg, tags) }
func (l serverLog) Warn(msg string, tags ...tag.Tag)   { l.emit(l.z.Debug(), msg, tags) }
func (l serverLog) Error(msg string, tags ...tag.Tag)  { l.emit(l.errorEvent(), msg, tags) }
func (l serverLog) DPanic(msg string, tags ...tag.Tag) { l.emit(l.errorEvent(), msg, tags) }
func (l serverLog) Panic(msg string, tags ...tag.Tag)  { l.emit(l.errorEvent(), msg, tags) }
func (l serverLog) Fatal(msg string, tags ...tag.Tag)  { l.emit(l.errorEvent(), msg, tags) }

func (l serverLog) With(tags ...tag.Tag) log.Logger {
	c := l.z.With()
	for _, t := range tags {
		c = c.Interface(t.Key(), t.Value())
	}
	return serverLog{z: c.Logger(), stopping: l.stopping}
}

func (l serverLog) errorEvent() *zerolog.Event {
	if l.stopping.Load() {
		return l.z.Debug()
	}
	return l.z.Warn()
}

func (l serverLog) emit(e *zerolog.Event, msg string, tags []tag.Tag) {
	if e == nil { // level disabled: skip evaluating the tags
		return
	}
	for _, t := range tags {
		if err, ok := t.Value().(error); ok {
			e = e.AnErr(t.Key(), err)
			continue
		}
		e = e.Interface(t.Key(), t.Value())
	}
	e.Msg(msg)
}
