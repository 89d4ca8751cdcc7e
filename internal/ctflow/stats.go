package ctflow

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
)

// CPUStats are one CPU's conntrack counters, as conntrack -S prints them.
type CPUStats struct {
	CPU           uint16 `json:"cpu"`
	Found         uint32 `json:"found"`
	Invalid       uint32 `json:"invalid"`
	Insert        uint32 `json:"insert"`
	InsertFailed  uint32 `json:"insert_failed"`
	Drop          uint32 `json:"drop"`
	EarlyDrop     uint32 `json:"early_drop"`
	Error         uint32 `json:"error"`
	SearchRestart uint32 `json:"search_restart"`
	ClashResolve  uint32 `json:"clash_resolve"`
	ChainTooLong  uint32 `json:"chaintoolong"`
}

// GlobalStats is the table's size and limit.
type GlobalStats struct {
	Entries    uint32 `json:"entries"`
	MaxEntries uint32 `json:"max_entries"`
}

// CTA_STATS_* (enum ctattr_stats_cpu) and CTA_STATS_GLOBAL_*.
const (
	ctaStatsFound         = 2
	ctaStatsInvalid       = 4
	ctaStatsInsert        = 8
	ctaStatsInsertFailed  = 9
	ctaStatsDrop          = 10
	ctaStatsEarlyDrop     = 11
	ctaStatsError         = 12
	ctaStatsSearchRestart = 13
	ctaStatsClashResolve  = 14
	ctaStatsChainTooLong  = 15

	ctaStatsGlobalEntries    = 1
	ctaStatsGlobalMaxEntries = 2
)

// Stats asks the kernel for the per-CPU counters (IPCTNL_MSG_CT_GET_STATS_CPU).
func Stats(s Socket) ([]CPUStats, error) {
	req := netlink.Message{
		Header: netlink.Header{Type: msgCTGetStatsCP, Flags: netlink.Request | netlink.Dump},
		Data:   []byte{0, 0, 0, 0},
	}
	if err := s.Send(req); err != nil {
		return nil, fmt.Errorf("requesting conntrack statistics: %w", mapErrno(err))
	}
	var out []CPUStats
	err := receiveAll(s, func(m netlink.Message) error {
		if m.Header.Type != msgCTGetStatsCP || len(m.Data) < 4 {
			return nil
		}
		st := CPUStats{CPU: binary.BigEndian.Uint16(m.Data[2:4])}
		err := walk(m.Data[4:], func(typ uint16, b []byte) error {
			var dst *uint32
			switch typ {
			case ctaStatsFound:
				dst = &st.Found
			case ctaStatsInvalid:
				dst = &st.Invalid
			case ctaStatsInsert:
				dst = &st.Insert
			case ctaStatsInsertFailed:
				dst = &st.InsertFailed
			case ctaStatsDrop:
				dst = &st.Drop
			case ctaStatsEarlyDrop:
				dst = &st.EarlyDrop
			case ctaStatsError:
				dst = &st.Error
			case ctaStatsSearchRestart:
				dst = &st.SearchRestart
			case ctaStatsClashResolve:
				dst = &st.ClashResolve
			case ctaStatsChainTooLong:
				dst = &st.ChainTooLong
			default:
				return nil
			}
			return be32(b, dst)
		})
		if err != nil {
			return fmt.Errorf("decoding conntrack statistics: %w", err)
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("conntrack statistics: %w", err)
	}
	return out, nil
}

// AnyDying reports whether the kernel conntrack table of the calling
// thread's network namespace holds entries it has deleted but not freed
// yet (IPCTNL_MSG_CT_GET_DYING): with reliable event delivery, those
// whose destroy event did not fit a listener's socket wait there until
// the kernel delivers it again. A poll costs one datagram however long
// the list is: it reads up to the first entry and closes its socket,
// which ends the dump.
func AnyDying() (bool, error) {
	c, err := Dial()
	if err != nil {
		return false, err
	}
	defer c.Close()
	return anyDying(c)
}

func anyDying(s Socket) (bool, error) {
	req := netlink.Message{
		Header: netlink.Header{Type: msgCTGetDying, Flags: netlink.Request | netlink.Dump},
		Data:   []byte{0, 0, 0, 0},
	}
	if err := s.Send(req); err != nil {
		return false, fmt.Errorf("requesting the dying conntrack entries: %w", mapErrno(err))
	}
	errFound := errors.New("found")
	err := receiveAll(s, func(m netlink.Message) error {
		if m.Header.Type == msgCTNew {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("dying conntrack entries: %w", err)
	}
	return false, nil
}

// Global asks the kernel for the entry count and limit (IPCTNL_MSG_CT_GET_STATS).
func Global(s Socket) (GlobalStats, error) {
	var g GlobalStats
	req := netlink.Message{
		Header: netlink.Header{Type: msgCTGetStats, Flags: netlink.Request | netlink.Acknowledge},
		Data:   []byte{0, 0, 0, 0},
	}
	if err := s.Send(req); err != nil {
		return g, fmt.Errorf("requesting conntrack table size: %w", mapErrno(err))
	}
	done := false
	for !done {
		msgs, err := s.Receive()
		if err != nil {
			return g, fmt.Errorf("reading conntrack table size: %w", mapErrno(err))
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			switch {
			case m.Header.Type == netlink.Error:
				if len(m.Data) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
						return g, fmt.Errorf("conntrack table size: %w", kernelErr{errnoOf(code)})
					}
				}
				done = true
			case m.Header.Type == msgCTGetStats && len(m.Data) >= 4:
				err := walk(m.Data[4:], func(typ uint16, b []byte) error {
					switch typ {
					case ctaStatsGlobalEntries:
						return be32(b, &g.Entries)
					case ctaStatsGlobalMaxEntries:
						return be32(b, &g.MaxEntries)
					}
					return nil
				})
				if err != nil {
					return g, fmt.Errorf("decoding conntrack table size: %w", err)
				}
			}
		}
	}
	return g, nil
}
