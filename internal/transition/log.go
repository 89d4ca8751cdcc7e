package transition

import (
	"log/syslog"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ctsync/ctsync/internal/logging"
)

// Ident names the hook in the journal and in syslog.
const Ident = "ctsync-vrrp-transition"

// NewLogger returns a logger for the hook. keepalived keeps a notify
// script's output only in its own log, so the journal (or syslog) is
// where a failover is read afterwards: to the journal when it runs, with
// state, group, step and duration as journal fields and the root as
// CTSYNC_ROOT, and to stderr; else to stderr and, when /dev/log exists,
// to syslog.
func NewLogger(root string) *zap.Logger {
	if log, journal := logging.New(logging.Options{Ident: Ident, Level: zap.InfoLevel, Root: root, Stderr: true}); journal {
		return log
	}
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cores := []zapcore.Core{
		zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.Lock(os.Stderr), zap.InfoLevel),
	}
	if _, err := os.Stat("/dev/log"); err == nil {
		if w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, Ident); err == nil {
			// syslog stamps the time itself.
			scfg := cfg
			scfg.TimeKey = ""
			cores = append(cores, zapcore.NewCore(zapcore.NewConsoleEncoder(scfg), zapcore.AddSync(w), zap.InfoLevel))
		}
	}
	return zap.New(zapcore.NewTee(cores...))
}
