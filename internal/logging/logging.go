// Package logging builds the zap loggers of ctsyncd and of the failover
// hook: to the systemd journal when it runs, over its native protocol so
// that every field (state, group, step, duration, ...) is a journal field
// that `journalctl STATE=master` can match; to standard error otherwise.
package logging

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// RootField is the journal field carrying the router's root, so that
// `show log ctsyncd` on a machine with several roots shows one router's.
const RootField = "CTSYNC_ROOT"

// Options say who logs.
type Options struct {
	// Ident is the journal's SYSLOG_IDENTIFIER ("ctsyncd").
	Ident string
	// Level is the lowest level logged.
	Level zapcore.Level
	// Root is the router's root directory, sent as CTSYNC_ROOT.
	Root string
	// Stderr also logs to standard error when the journal is used (the
	// hook, whose output keepalived keeps in its log file).
	Stderr bool
}

// JournalEnabled reports whether the journal's socket answers. It is a
// variable so that tests can pretend either way.
var JournalEnabled = journal.Enabled

// New returns the logger and says whether the journal receives it.
func New(o Options) (*zap.Logger, bool) {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	stderr := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), o.Level)
	if !JournalEnabled() {
		return zap.New(stderr), false
	}
	fields := map[string]string{"SYSLOG_IDENTIFIER": o.Ident}
	if o.Root != "" {
		fields[RootField] = o.Root
	}
	var core zapcore.Core = NewJournalCore(o.Level, fields, journal.Send)
	if o.Stderr {
		core = zapcore.NewTee(core, stderr)
	}
	return zap.New(core), true
}

// SendFunc sends one journal entry; journal.Send in production.
type SendFunc func(message string, p journal.Priority, vars map[string]string) error

// JournalCore is a zapcore.Core that writes journal entries.
type JournalCore struct {
	zapcore.LevelEnabler
	fields map[string]string // fixed and With() fields, journal-named
	text   []string          // the same With() fields as key=value, for MESSAGE
	send   SendFunc
}

// NewJournalCore returns a core sending to send with the fixed fields.
func NewJournalCore(l zapcore.LevelEnabler, fixed map[string]string, send SendFunc) *JournalCore {
	f := make(map[string]string, len(fixed))
	for k, v := range fixed {
		f[k] = v
	}
	return &JournalCore{LevelEnabler: l, fields: f, send: send}
}

// With implements zapcore.Core.
func (c *JournalCore) With(fs []zapcore.Field) zapcore.Core {
	n := &JournalCore{LevelEnabler: c.LevelEnabler, send: c.send, fields: make(map[string]string, len(c.fields)+len(fs))}
	for k, v := range c.fields {
		n.fields[k] = v
	}
	n.text = append(append([]string(nil), c.text...), addFields(n.fields, fs)...)
	return n
}

// Check implements zapcore.Core.
func (c *JournalCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core. MESSAGE carries the fields too, as
// key=value after the message, so that journalctl's default output
// tells the whole story; each field is also a journal field of its own.
func (c *JournalCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	vars := make(map[string]string, len(c.fields)+len(fs)+2)
	for k, v := range c.fields {
		vars[k] = v
	}
	text := append(append([]string(nil), c.text...), addFields(vars, fs)...)
	if e.LoggerName != "" {
		vars["LOGGER"] = e.LoggerName
	}
	if e.Caller.Defined {
		vars["CODE_FILE"] = e.Caller.File
		vars["CODE_LINE"] = fmt.Sprint(e.Caller.Line)
	}
	msg := e.Message
	if len(text) > 0 {
		msg += " " + strings.Join(text, " ")
	}
	return c.send(msg, priority(e.Level), vars)
}

// Sync implements zapcore.Core: every entry is one datagram, already sent.
func (c *JournalCore) Sync() error { return nil }

func priority(l zapcore.Level) journal.Priority {
	switch {
	case l >= zapcore.DPanicLevel:
		return journal.PriCrit
	case l == zapcore.ErrorLevel:
		return journal.PriErr
	case l == zapcore.WarnLevel:
		return journal.PriWarning
	case l == zapcore.InfoLevel:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}

// addFields puts fs into vars under journal names and returns them as
// key=value text, in field order.
func addFields(vars map[string]string, fs []zapcore.Field) []string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	var text []string
	keys := make([]string, 0, len(enc.Fields))
	for _, f := range fs {
		if _, ok := enc.Fields[f.Key]; ok {
			keys = append(keys, f.Key)
		}
	}
	if len(keys) != len(enc.Fields) { // namespaces, inline objects
		keys = keys[:0]
		for k := range enc.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		v := value(enc.Fields[k])
		vars[FieldName(k)] = v
		if strings.ContainsAny(v, " \t\n\"") {
			v = fmt.Sprintf("%q", v)
		}
		text = append(text, k+"="+v)
	}
	return text
}

func value(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return x.String()
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = value(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

// FieldName turns a zap key into a journal field name: upper case
// letters, digits and underscores, not starting with an underscore or a
// digit (those are the journal's own or invalid).
func FieldName(key string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(key) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_")
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "F_" + s
	}
	return s
}
