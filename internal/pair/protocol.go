package pair

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ctsync/ctsync/internal/strictjson"
)

// The channel's bounds. A request is small (an op and a flag), except a
// prepare, which carries the synced part of a config; a status is a few
// KiB. Every exchange, handshake included, has one deadline, so a stuck
// or hostile peer holds a connection for that long at most.
const (
	MaxRequest     = 4 << 10
	MaxSyncRequest = 256 << 10
	MaxResponse    = 256 << 10
)

// IOTimeout bounds one exchange on the channel, handshake included; a
// variable so that tests of the bound need not wait five seconds.
var IOTimeout = 5 * time.Second

// PrepareTimeout bounds a prepare: the peer takes its commit lock and
// runs a commit check (keepalived tests its file). CommitTimeout bounds
// a commit on the peer, which may restart conntrackd and wait for a
// VRRP transition under way (the hook's 30 s).
var (
	PrepareTimeout = 30 * time.Second
	CommitTimeout  = 90 * time.Second
)

// Ops a peer may ask.
const (
	OpStatus   = "status"   // this node's status, for the peer's pair view
	OpTakeover = "takeover" // become master: the peer hands mastership over
	OpSynced   = "synced"   // this node's synced part (config-diff, from-peer)
	OpPrepare  = "prepare"  // config sync: check the peer's synced part here, hold the commit lock
	OpCommit   = "commit"   // config sync: commit what was prepared
	OpAbort    = "abort"    // config sync: drop what was prepared
)

// Why a prepare was refused, besides the candidate failing its check.
const (
	CodeDiverged = "diverged" // this node changed its synced part since the pair last agreed
	CodeBusy     = "busy"     // a commit runs, or one of the pair is prepared
	CodeOff      = "off"      // config-sync is off on this node
)

// ErrTooLarge is a message over its bound.
var ErrTooLarge = errors.New("message too large")

// Request is one request over the channel.
type Request struct {
	Op string `json:"op"`
	// Force takes over even when not ready (takeover); prepares even
	// when this node changed since the pair last agreed (prepare, for
	// `config-sync to-peer`).
	Force bool `json:"force,omitempty"`
	// ID names a prepared commit of the pair (prepare, commit, abort).
	ID string `json:"id,omitempty"`
	// From and User say who commits (prepare), for this node's archive.
	From string `json:"from,omitempty"`
	User string `json:"user,omitempty"`
	// Base is the hash of the committing node's synced part before the
	// commit; Synced the new synced part, in config.boot form (prepare).
	Base   string `json:"base,omitempty"`
	Synced string `json:"synced,omitempty"`
}

// Response answers one Request.
type Response struct {
	Err     string      `json:"err,omitempty"`
	Code    string      `json:"code,omitempty"`
	Message string      `json:"message,omitempty"`
	Status  *NodeStatus `json:"status,omitempty"`
	Synced  *SyncedInfo `json:"synced,omitempty"`
}

// SyncedInfo is one node's synced part, as OpSynced answers it.
type SyncedInfo struct {
	Name       string `json:"name"`
	Revision   int    `json:"revision"`
	ConfigSync bool   `json:"config_sync"`
	Hash       string `json:"hash"`
	// Agreed is the hash both nodes last held alike ("" when never).
	Agreed string `json:"agreed,omitempty"`
	Part   string `json:"part"`
}

// maxFor is the bound of a request of op.
func maxFor(op string) int {
	if op == OpPrepare {
		return MaxSyncRequest
	}
	return MaxRequest
}

// timeoutFor bounds one exchange of op.
func timeoutFor(op string) time.Duration {
	switch op {
	case OpPrepare:
		return PrepareTimeout
	case OpCommit:
		return CommitTimeout
	}
	return IOTimeout
}

// writeMsg sends v as a 4-byte big-endian length and its JSON.
func writeMsg(w io.Writer, v any, max int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), max)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	_, err = w.Write(append(hdr[:], b...))
	return err
}

// readMsg reads one message of at most max bytes: the length is checked
// before anything is allocated for it. It returns the length.
func readMsg(r io.Reader, max int, v any) (int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, fmt.Errorf("reading message length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > uint32(max) {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, fmt.Errorf("reading message: %w", err)
	}
	if err := strictjson.Unmarshal(b, v); err != nil {
		return 0, fmt.Errorf("decoding message: %w", err)
	}
	return int(n), nil
}

// DecodeRequest reads one request and checks it names a known op with
// only the fields that op takes, each well-formed, and that it is within
// that op's bound.
func DecodeRequest(r io.Reader) (*Request, error) {
	var req Request
	n, err := readMsg(r, MaxSyncRequest, &req)
	if err != nil {
		return nil, err
	}
	if max := maxFor(req.Op); n > max {
		return nil, fmt.Errorf("%w: %d bytes for %q, at most %d", ErrTooLarge, n, req.Op, max)
	}
	// What each op may carry besides its name.
	var force, id, prep bool
	switch req.Op {
	case OpStatus, OpSynced:
	case OpTakeover:
		force = true
	case OpPrepare:
		force, id, prep = true, true, true
	case OpCommit, OpAbort:
		id = true
	default:
		return nil, fmt.Errorf("unknown op %q", req.Op)
	}
	switch {
	case req.Force && !force:
		return nil, fmt.Errorf("force is not for %s", req.Op)
	case !id && req.ID != "":
		return nil, fmt.Errorf("an id is not for %s", req.Op)
	case id && !validID(req.ID):
		return nil, fmt.Errorf("%s: the id must be %d lowercase hex digits", req.Op, 2*idBytes)
	case !prep && (req.From != "" || req.User != "" || req.Base != "" || req.Synced != ""):
		return nil, fmt.Errorf("from, user, base and synced are for %s only", OpPrepare)
	case prep && !validName(req.From, true):
		return nil, errors.New("prepare: from must name the committing node (printable, at most 64 bytes)")
	case prep && !validName(req.User, false):
		return nil, errors.New("prepare: user must be printable, at most 64 bytes")
	case prep && req.Base != "" && !isHex(req.Base, 64):
		return nil, errors.New("prepare: base must be a SHA-256 in hex")
	}
	return &req, nil
}

// idBytes is the size of a prepared commit's random id.
const idBytes = 16

func validID(s string) bool { return isHex(s, 2*idBytes) }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validName accepts what goes into an archive comment: one line of
// printable ASCII, short.
func validName(s string, required bool) bool {
	if s == "" {
		return !required
	}
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
