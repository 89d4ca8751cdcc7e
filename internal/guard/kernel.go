package guard

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// Guard raises and lifts the guard. Kernel is the real one; tests of the
// callers record what they were asked.
type Guard interface {
	Raise(Ruleset) error
	Lift() error
	Inspect() (Present, error)
}

// Kernel programs the guard over netlink (nf_tables), in the calling
// thread's network namespace unless NetNS is set.
//
// It talks netlink in-process with github.com/google/nftables rather than
// running the nft binary: the hook runs on the failover path while the
// virtual addresses are already up, and a fork and exec of nft, which
// also reads the whole ruleset into its cache before it changes anything
// (the operator's tables included, however large), costs time there that a
// netlink batch of a dozen messages does not. The batch is one nf_tables
// transaction, so the table is replaced atomically, and no process is
// left to wait for or to kill.
type Kernel struct {
	// NetNS is a file descriptor of a network namespace; 0 is the
	// calling thread's.
	NetNS int
	// Dial replaces the netlink socket, for tests (nltest).
	Dial nltest.Func
}

var _ Guard = Kernel{}

func (k Kernel) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if k.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(k.NetNS))
	}
	if k.Dial != nil {
		opts = append(opts, nftables.WithTestDial(k.Dial))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("guard: netlink: %w", err)
	}
	return c, nil
}

// Raise replaces the guard table with r, or creates it, in one
// transaction.
func (k Kernel) Raise(r Ruleset) error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	if err := r.program(c); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("guard: raising inet %s: %w", Table, err)
	}
	return nil
}

// Lift deletes the guard table; lifting an absent guard is not an error.
// Like Raise it first creates the table in the same transaction, so that
// the delete never fails for want of it.
func (k Kernel) Lift() error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("guard: lifting inet %s: %w", Table, err)
	}
	return nil
}

// Present is what the kernel holds of the guard.
type Present struct {
	// Table: the table exists.
	Table bool `json:"table"`
	// Armed: its drop rules match (the armed element is there and has
	// not expired). A table that is there but not armed drops nothing.
	Armed bool `json:"armed"`
	// Expires is how long the armed element has left; zero when it does
	// not expire.
	Expires time.Duration `json:"expires_ns,omitempty"`
}

// Up reports whether the guard drops packets.
func (p Present) Up() bool { return p.Table && p.Armed }

// Inspect reads the guard's table from the kernel.
func (k Kernel) Inspect() (Present, error) {
	c, err := k.conn()
	if err != nil {
		return Present{}, err
	}
	t, err := c.ListTableOfFamily(Table, nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return Present{}, nil
		}
		return Present{}, fmt.Errorf("guard: listing inet %s: %w", Table, err)
	}
	p := Present{Table: true}
	s, err := c.GetSetByName(t, setArmed)
	if err != nil {
		return p, fmt.Errorf("guard: inet %s set %s: %w", Table, setArmed, err)
	}
	els, err := c.GetSetElements(s)
	if err != nil {
		return p, fmt.Errorf("guard: inet %s set %s: %w", Table, setArmed, err)
	}
	for _, e := range els {
		if len(e.Key) == 1 && e.Key[0] == unix.IPPROTO_TCP {
			p.Armed = true
			if e.Timeout > 0 {
				p.Expires = e.Expires
			}
		}
	}
	return p, nil
}
