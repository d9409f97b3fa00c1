package temporalconn

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/log"
)

// zlog adapts a zerolog.Logger to the Temporal SDK's log.Logger, so the SDK's
// own messages (worker start, poller errors, workflow and activity loggers)
// land in amicrypt's log with structured fields.
type zlog struct {
	z zerolog.Logger
}

var (
	_ log.Logger     = zlog{}
	_ log.WithLogger = zlog{}
)

// NewLogger adapts z for the Temporal SDK: Debug/Info/Warn/Error map to the same
// zerolog levels and the SDK's alternating key/value pairs become fields.
func NewLogger(z zerolog.Logger) log.Logger { return zlog{z: z} }

func (l zlog) Debug(msg string, keyvals ...any) { l.emit(l.z.Debug(), msg, keyvals) }
func (l zlog) Info(msg string, keyvals ...any)  { l.emit(l.z.Info(), msg, keyvals) }
func (l zlog) Warn(msg string, keyvals ...any)  { l.emit(l.z.Warn(), msg, keyvals) }
func (l zlog) Error(msg string, keyvals ...any) { l.emit(l.z.Error(), msg, keyvals) }

// With returns a logger that adds keyvals to every message; l is unchanged.
func (l zlog) With(keyvals ...any) log.Logger {
	return zlog{z: l.z.With().Fields(fieldList(keyvals)).Logger()}
}

func (l zlog) emit(e *zerolog.Event, msg string, keyvals []any) {
	if e == nil { // level disabled
		return
	}
	e.Fields(fieldList(keyvals)).Msg(msg)
}

// fieldList turns the SDK's key/value pairs into zerolog's field list: a key
// that is not a string is printed, and a value without a key is kept under
// "extra" rather than dropped.
func fieldList(keyvals []any) []any {
	out := make([]any, 0, len(keyvals)+1)
	for i := 0; i < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			key = fmt.Sprint(keyvals[i])
		}
		if i+1 == len(keyvals) {
			out = append(out, "extra", keyvals[i])
			break
		}
		out = append(out, key, keyvals[i+1])
	}
	return out
}
