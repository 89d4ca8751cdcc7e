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

// The channel's bounds. A request is small (an op and a flag); a status
// is a few KiB. Every exchange, handshake included, has one deadline, so
// a stuck or hostile peer holds a connection for IOTimeout at most.
const (
	MaxRequest  = 4 << 10
	MaxResponse = 256 << 10
)

// IOTimeout bounds one exchange on the channel, handshake included; a
// variable so that tests of the bound need not wait five seconds.
var IOTimeout = 5 * time.Second

// Ops a peer may ask.
const (
	OpStatus   = "status"   // this node's status, for the peer's pair view
	OpTakeover = "takeover" // become master: the peer hands mastership over
)

// ErrTooLarge is a message over its bound.
var ErrTooLarge = errors.New("message too large")

// Request is one request over the channel.
type Request struct {
	Op string `json:"op"`
	// Force takes over even when not ready (takeover only).
	Force bool `json:"force,omitempty"`
}

// Response answers one Request.
type Response struct {
	Err     string      `json:"err,omitempty"`
	Message string      `json:"message,omitempty"`
	Status  *NodeStatus `json:"status,omitempty"`
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
// before anything is allocated for it.
func readMsg(r io.Reader, max int, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("reading message length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > uint32(max) {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("reading message: %w", err)
	}
	if err := strictjson.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding message: %w", err)
	}
	return nil
}

// DecodeRequest reads one request and checks it names a known op.
func DecodeRequest(r io.Reader) (*Request, error) {
	var req Request
	if err := readMsg(r, MaxRequest, &req); err != nil {
		return nil, err
	}
	switch req.Op {
	case OpStatus:
		if req.Force {
			return nil, errors.New("force is for takeover only")
		}
	case OpTakeover:
	default:
		return nil, fmt.Errorf("unknown op %q", req.Op)
	}
	return &req, nil
}
