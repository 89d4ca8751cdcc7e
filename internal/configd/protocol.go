// Package configd is ctsyncd: the service that owns the running
// configuration, serves config sessions over a UNIX socket and runs
// commits one at a time. The wire protocol is one JSON object per line;
// a connection is one session, and its candidate dies with it.
package configd

import (
	"errors"
	"fmt"

	"github.com/ctsync/ctsync/internal/service"
	"github.com/ctsync/ctsync/internal/strictjson"
)

// Request is one line from the shell, or an operation op-mode asks of
// the service (Op "restart" with Engine "conntrackd").
type Request struct {
	Line   string `json:"line,omitempty"`
	Op     string `json:"op,omitempty"`
	Engine string `json:"engine,omitempty"`
	// Args are the words of an op in Server.Ops.
	Args []string `json:"args,omitempty"`
	// Query "candidate" asks for the session's candidate as set
	// commands from the top (Response.Out), for the shell's completion
	// of existing names; it changes nothing.
	Query string `json:"query,omitempty"`
}

// Response answers one Request.
type Response struct {
	Out string `json:"out,omitempty"`
	Err string `json:"err,omitempty"`
	// Code is what kind of failure Err is, and Path the config path it
	// is about, as words (a key may hold a space): what the client needs
	// to give the caller the error the service had (Failure).
	Code     service.Code `json:"code,omitempty"`
	Path     []string     `json:"path,omitempty"`
	Exit     bool         `json:"exit,omitempty"`     // the session ended (exit)
	Modified bool         `json:"modified,omitempty"` // the candidate has uncommitted changes
	Others   int          `json:"others,omitempty"`   // other sessions holding uncommitted changes
	// ConfirmBy is set while a commit-confirm awaits confirm: the time
	// (HH:MM:SS, local) at which ctsyncd rolls it back.
	ConfirmBy string `json:"confirm_by,omitempty"`
	// Level is the session's edit level (a tree path, keys included),
	// for the prompt: [edit high-availability vrrp group wan].
	Level []string `json:"level,omitempty"`
}

// fail records err in r.
func (r *Response) fail(err error) {
	r.Err = err.Error()
	r.Code, r.Path = service.CodeOf(err)
}

// Failure is the error r reports, nil when none: a *service.Error,
// which errors.Is compares with the sentinel the service's error had.
func (r *Response) Failure() error {
	if r.Err == "" {
		return nil
	}
	return &service.Error{Code: r.Code, Path: r.Path, Text: r.Err}
}

// DecodeRequest decodes one request line strictly: an unknown field is
// an error (a client newer than the service must not have part of its
// request silently ignored), and so is anything after the object.
func DecodeRequest(line []byte) (Request, error) {
	var req Request
	if err := strictjson.Unmarshal(line, &req); err != nil {
		return Request{}, fmt.Errorf("malformed request: %w", err)
	}
	if req.Line != "" && req.Op != "" {
		return Request{}, errors.New("malformed request: both a command line and an operation")
	}
	return req, nil
}
