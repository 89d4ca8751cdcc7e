// Package kernelinfo reads the kernel's connection-tracking sizes that
// conntrackd's hash table is sized from. It reads through an fs.FS so
// tests (and golden files) do not depend on the machine they run on.
package kernelinfo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Paths relative to the filesystem root.
const (
	HashSizePath     = "sys/module/nf_conntrack/parameters/hashsize"
	ConntrackMaxPath = "proc/sys/net/netfilter/nf_conntrack_max"
	// BucketsPath is the same number as HashSizePath, read-only, where
	// /sys/module is not visible (systemd-nspawn containers hide it).
	BucketsPath = "proc/sys/net/netfilter/nf_conntrack_buckets"
)

// Info is what conntrackd's General section needs.
type Info struct {
	HashSize     int // buckets of the kernel conntrack table
	ConntrackMax int // nf_conntrack_max: most entries the kernel tracks
}

// ErrNotLoaded means the nf_conntrack module is not loaded: without it
// there is nothing for conntrackd to replicate.
var ErrNotLoaded = errors.New("nf_conntrack is not loaded")

// Read reads Info from fsys, which is rooted at "/" on a live system.
func Read(fsys fs.FS) (Info, error) {
	hs, err := readInt(fsys, HashSizePath)
	if errors.Is(err, ErrNotLoaded) {
		if b, berr := readInt(fsys, BucketsPath); berr == nil {
			hs, err = b, nil
		}
	}
	if err != nil {
		return Info{}, err
	}
	max, err := readInt(fsys, ConntrackMaxPath)
	if err != nil {
		return Info{}, err
	}
	return Info{HashSize: hs, ConntrackMax: max}, nil
}

// System reads Info from the live system. /proc/sys is per network
// namespace, so it answers for the namespace of the calling process.
func System() (Info, error) { return Read(os.DirFS("/")) }

func readInt(fsys fs.FS, name string) (int, error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("reading /%s: %w", name, ErrNotLoaded)
	}
	if err != nil {
		return 0, fmt.Errorf("reading /%s: %w", name, err)
	}
	n, err := ParseInt(b)
	if err != nil {
		return 0, fmt.Errorf("reading /%s: %w", name, err)
	}
	return n, nil
}

// ParseInt parses the content of a sysfs or procfs integer file: decimal
// digits and a trailing newline. A value that cannot size a hash table
// (zero, negative, beyond int32) is refused, since it ends up in
// conntrackd.conf.
func ParseInt(b []byte) (int, error) {
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %q", s)
	}
	if n <= 0 {
		return 0, fmt.Errorf("not a positive integer: %d", n)
	}
	return int(n), nil
}
