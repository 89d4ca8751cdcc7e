package lab

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// parsePid reads a pid file's contents: a decimal pid, optionally
// surrounded by white space.
func parsePid(b []byte) (int, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("parsing pid: empty")
	}
	s := string(f[0])
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("parsing pid %q: %w", s, err)
	}
	if p <= 1 {
		return 0, fmt.Errorf("parsing pid %q: not a process id", s)
	}
	return p, nil
}
