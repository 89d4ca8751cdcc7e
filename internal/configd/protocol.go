// Package configd is ctsyncd: the service that owns the running
// configuration, serves config sessions over a UNIX socket and runs
// commits one at a time. The wire protocol is one JSON object per line;
// a connection is one session, and its candidate dies with it.
package configd

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
	Out      string `json:"out,omitempty"`
	Err      string `json:"err,omitempty"`
	Exit     bool   `json:"exit,omitempty"`     // the session ended (exit)
	Modified bool   `json:"modified,omitempty"` // the candidate has uncommitted changes
	Others   int    `json:"others,omitempty"`   // other sessions holding uncommitted changes
	// ConfirmBy is set while a commit-confirm awaits confirm: the time
	// (HH:MM:SS, local) at which ctsyncd rolls it back.
	ConfirmBy string `json:"confirm_by,omitempty"`
	// Level is the session's edit level (a tree path, keys included),
	// for the prompt: [edit high-availability vrrp group wan].
	Level []string `json:"level,omitempty"`
}
