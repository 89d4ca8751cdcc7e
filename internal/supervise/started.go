package supervise

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/handler"
	procfs "github.com/ctsync/ctsync/internal/proc"
)

// Started is what an engine process was started with, recorded by Spawn
// in spec.StartedFile. It answers two questions no config struct can: is
// the process at this pid the one we started (pid and start ticks
// together name one process; a pid alone may be reused), and which
// content of its config file does it run (the file may have been
// replaced since, by a commit that did not finish or a ctsyncd that
// crashed).
type Started struct {
	Pid        int       `json:"pid"`
	StartTicks uint64    `json:"start_ticks"`
	Argv       []string  `json:"argv"`
	At         time.Time `json:"at"`
	// ConfigSHA256 is the hash of spec.ConfigFile as it was read just
	// before the start; empty when the spec names no config file.
	ConfigSHA256 string `json:"config_sha256,omitempty"`
}

// HashFile is the hex SHA-256 of the file at path.
func HashFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ReadStarted returns the record of the engine spec describes. A missing
// record is (nil, nil).
func ReadStarted(spec handler.EngineSpec) (*Started, error) {
	if spec.StartedFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(spec.StartedFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", spec.StartedFile, err)
	}
	var st Started
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", spec.StartedFile, err)
	}
	return &st, nil
}

// Running reports whether the recorded process still runs: the same pid
// with the same start ticks, and the same command line.
func (st *Started) Running() bool {
	if st == nil || st.Pid <= 0 || !procfs.Alive(st.Pid) {
		return false
	}
	ticks, ok := procfs.StartTicks(st.Pid)
	return ok && ticks == st.StartTicks && slices.Equal(procfs.Argv(st.Pid), st.Argv)
}

// ConfigCurrent reports whether the engine runs the content its config
// file has now. A record without a hash (a spec without a config file)
// counts as current; a config file that cannot be read does not.
func (st *Started) ConfigCurrent(spec handler.EngineSpec) bool {
	if st == nil {
		return false
	}
	if spec.ConfigFile == "" || st.ConfigSHA256 == "" {
		return true
	}
	sum, err := HashFile(spec.ConfigFile)
	return err == nil && sum == st.ConfigSHA256
}

// writeStarted records pid as started from spec, whose config hashed to
// sum before the start.
func writeStarted(spec handler.EngineSpec, pid int, sum string) error {
	if spec.StartedFile == "" {
		return nil
	}
	st := Started{Pid: pid, Argv: spec.Argv, At: time.Now(), ConfigSHA256: sum}
	st.StartTicks, _ = procfs.StartTicks(pid)
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(spec.StartedFile, append(b, '\n'), 0o644)
}

// rerecord updates pid's Started record for a reload: same process, the
// config file's current content.
func rerecord(spec handler.EngineSpec, pid int) error {
	if spec.StartedFile == "" {
		return nil
	}
	st, err := ReadStarted(spec)
	if err != nil {
		return err
	}
	if st == nil || st.Pid != pid {
		return nil
	}
	if spec.ConfigFile != "" {
		if st.ConfigSHA256, err = HashFile(spec.ConfigFile); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(spec.StartedFile, append(b, '\n'), 0o644)
}
