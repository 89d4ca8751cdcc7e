package transition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/ctsync/ctsync/internal/ctdstats"
)

// Facts is what the conntrack-sync handler tells the hook, in a file it
// generates and installs in the same commit as conntrackd.conf (and
// removes with it). The hook reads it instead of the running config, which
// is recorded only after a commit has finished, while keepalived, started
// by that commit, may call the hook before then; and instead of parsing
// conntrackd.conf, whose socket and lock paths the root fixes anyway.
type Facts struct {
	SyncGroup string `json:"sync_group"`
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
		cc.External, cc.HasExternal = int(ext.Current), true
	}
	return cc, nil
}
