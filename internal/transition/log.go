package transition

import (
	"log/syslog"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a logger for the hook: to stderr, and to syslog (the
// journal on systemd hosts) when /dev/log exists, because keepalived
// discards a notify script's output and the log is then the only trace
// of what happened at failover.
func NewLogger() *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cores := []zapcore.Core{
		zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.Lock(os.Stderr), zap.InfoLevel),
	}
	if _, err := os.Stat("/dev/log"); err == nil {
		if w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "ctsync-vrrp-transition"); err == nil {
			// syslog stamps the time itself.
			scfg := cfg
			scfg.TimeKey = ""
			cores = append(cores, zapcore.NewCore(zapcore.NewConsoleEncoder(scfg), zapcore.AddSync(w), zap.InfoLevel))
		}
	}
	return zap.New(zapcore.NewTee(cores...))
}
