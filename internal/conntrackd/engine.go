package conntrackd

import (
	"errors"
	"os/exec"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
)

// EngineName names conntrackd among the supervised engines.
const EngineName = "conntrackd"

// Binary finds conntrackd on PATH, else at Debian's path: keepalived runs
// notify scripts with a minimal PATH.
func Binary() (string, error) {
	if bin, err := exec.LookPath("conntrackd"); err == nil {
		return filepath.Abs(bin)
	}
	const debian = "/usr/sbin/conntrackd"
	if _, err := exec.LookPath(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("conntrackd not found on PATH or at " + debian)
}

// Spec is how ctsync runs conntrackd under root, whoever starts it
// (ctsyncd's supervisor, or the VRRP hook with ctsyncd stopped): in the
// foreground, so the pid is the daemon's own, with the pid file the
// supervisor adopts and the lock file a crash leaves behind.
func Spec(root paths.Root, bin string) handler.EngineSpec {
	return handler.EngineSpec{
		Name:        EngineName,
		Argv:        []string{bin, "-C", root.ConntrackdConf()},
		PidFile:     root.ConntrackdPid(),
		LockFile:    root.ConntrackdLock(),
		LogFile:     root.ConntrackdLog(),
		ConfigFile:  root.ConntrackdConf(),
		StartedFile: root.ConntrackdStarted(),
	}
}
