package transition

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/paths"
)

// Facts is what the conntrack-sync handler tells the hook, in a file it
// generates and installs in the same commit as conntrackd.conf (and
// removes with it). The hook reads it instead of the running config, which
// is recorded only after a commit has finished, while keepalived, started
// by that commit, may call the hook before then; and instead of parsing
// conntrackd.conf, whose socket and lock paths the root fixes anyway.
type Facts struct {
	SyncGroup string `json:"sync_group"`
	// Previous is the sync-group of the facts this file replaced, when a
	// commit renamed it. keepalived is reloaded after the files are
	// installed, so until it has read the new keepalived.conf the one
	// running still calls the hook with the old name: the hook acts for
	// Previous while the installed keepalived.conf is not the one
	// keepalived loaded (Root.KeepalivedLoaded), and for it only.
	Previous string `json:"previous_sync_group,omitempty"`
	// DisableExternalCache: the peer's states go straight into the
	// kernel, so there is no external cache to commit.
	DisableExternalCache bool `json:"disable_external_cache,omitempty"`
	// ExpectSync: expectations are synced too, so the "all tables"
	// requests (ct + expect) are used.
	ExpectSync bool `json:"expect_sync,omitempty"`
	// VIPs are the virtual addresses of the sync-group's VRRP groups,
	// which the switchover guard protects from the router's own resets.
	VIPs []string `json:"vips,omitempty"`
}

// EncodeFacts renders the facts file.
func EncodeFacts(f Facts) []byte {
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// Acts reports whether the hook acts for group: the sync-group of these
// facts, or the previous one while keepalived has not loaded the
// keepalived.conf installed with them.
func (f *Facts) Acts(root paths.Root, group string) bool {
	if f.SyncGroup == group {
		return true
	}
	return f.Previous != "" && f.Previous == group && keepalivedReloadPending(root)
}

// keepalivedReloadPending reports whether the installed keepalived.conf
// differs from the one the running keepalived read last.
func keepalivedReloadPending(root paths.Root) bool {
	installed, err := os.ReadFile(root.KeepalivedConf())
	if err != nil {
		return false
	}
	loaded, _ := os.ReadFile(root.KeepalivedLoaded())
	sum := sha256.Sum256(installed)
	return strings.TrimSpace(string(loaded)) != hex.EncodeToString(sum[:])
}

// ReadFacts reads the failover facts installed under root; nil when
// conntrack-sync is not configured.
func ReadFacts(root paths.Root) (*Facts, error) { return readFacts(root.FailoverFacts()) }

// readFacts reads the facts file. A missing file (nil, nil) means
// conntrack-sync is not configured; a corrupt one is an error, since the
// hook must not guess.
func readFacts(path string) (*Facts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading failover facts: %w", err)
	}
	var f Facts
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading failover facts %s: %w", path, err)
	}
	return &f, nil
}

// cacheCounts are the sizes of conntrackd's caches.
type cacheCounts struct {
	Internal, External int
	HasExternal        bool
	// ExternalDestroyed counts the entries ever removed from the
	// external cache (the peer said they ended).
	ExternalDestroyed int
}

// parseStats reads the cache sizes from a statistics reply, with the
// parser op-mode uses. With DisableExternalCache there is no external
// cache section.
func parseStats(b []byte) (cacheCounts, error) {
	st, err := ctdstats.Parse(bytes.NewReader(b))
	if err != nil {
		return cacheCounts{}, fmt.Errorf("statistics: %w", err)
	}
	var cc cacheCounts
	in, ext := st.Cache["internal"], st.Cache["external"]
	if in == nil && ext == nil {
		return cacheCounts{}, fmt.Errorf("statistics: no cache counts in %d-byte reply", len(b))
	}
	if in != nil {
		cc.Internal = int(in.Current)
	}
	if ext != nil {
		cc.External, cc.HasExternal, cc.ExternalDestroyed = int(ext.Current), true, int(ext.Destroyed)
	}
	return cc, nil
}
