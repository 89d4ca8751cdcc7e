package configd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/ctsync/ctsync/internal/service"
)

// Client is one config session with ctsyncd.
type Client struct {
	conn net.Conn
	sc   *bufio.Scanner
	enc  *json.Encoder
}

// Dial opens a session.
func Dial(socket string) (*Client, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("no permission to configure (%s): run as root or as a member of group %q", socket, AdminGroup)
		}
		return nil, fmt.Errorf("%w (%s)", service.ErrNotRunning, socket)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	return &Client{conn: c, sc: sc, enc: json.NewEncoder(c)}, nil
}

// Exec sends one command line.
func (c *Client) Exec(line string) (*Response, error) { return c.do(Request{Line: line}) }

// Candidate returns the session's candidate as set commands (see
// Request.Query).
func (c *Client) Candidate() (string, error) {
	r, err := c.do(Request{Query: "candidate"})
	if err != nil {
		return "", err
	}
	return r.Out, r.Failure()
}

func (c *Client) do(req Request) (*Response, error) {
	if err := c.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("sending to ctsyncd: %w", err)
	}
	if !c.sc.Scan() {
		if err := c.sc.Err(); err != nil {
			return nil, fmt.Errorf("reading from ctsyncd: %w", err)
		}
		return nil, errors.New("ctsyncd closed the session")
	}
	var r Response
	if err := json.Unmarshal(c.sc.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("reading from ctsyncd: %w", err)
	}
	return &r, nil
}

// Close ends the session.
func (c *Client) Close() error { return c.conn.Close() }

// Operate sends an op-mode request (see Request.Op) and returns what the
// service printed.
func (c *Client) Operate(op, engine string) (string, error) {
	return c.Do(Request{Op: op, Engine: engine})
}

// Do sends any op-mode request and returns what the service printed.
func (c *Client) Do(req Request) (string, error) {
	if err := c.enc.Encode(req); err != nil {
		return "", fmt.Errorf("sending to ctsyncd: %w", err)
	}
	if !c.sc.Scan() {
		if err := c.sc.Err(); err != nil {
			return "", fmt.Errorf("reading from ctsyncd: %w", err)
		}
		return "", errors.New("ctsyncd closed the session")
	}
	var r Response
	if err := json.Unmarshal(c.sc.Bytes(), &r); err != nil {
		return "", fmt.Errorf("reading from ctsyncd: %w", err)
	}
	return r.Out, r.Failure()
}
