package badgerstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Log keys.
const (
	logKeyComponent = "component"
	logKeyError     = "err"
)

// logger adapts Badger's logger to slog: errors and warnings are passed on,
// informational messages go to debug level, debug messages are dropped.
type logger struct{ l *slog.Logger }

func (g logger) Errorf(format string, args ...any)   { g.log(slog.LevelError, format, args) }
func (g logger) Warningf(format string, args ...any) { g.log(slog.LevelWarn, format, args) }
func (g logger) Infof(format string, args ...any)    { g.log(slog.LevelDebug, format, args) }
func (g logger) Debugf(string, ...any)               {}

func (g logger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !g.l.Enabled(ctx, level) {
		return
	}
	g.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}
