package ctflow

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestStats(t *testing.T) {
	s := &fakeSocket{fn: func(req []netlink.Message) ([]netlink.Message, error) {
		if req[0].Header.Type != msgCTGetStatsCP {
			t.Fatalf("type = %v", req[0].Header.Type)
		}
		var out []netlink.Message
		for cpu := uint16(0); cpu < 2; cpu++ {
			ae := netlink.NewAttributeEncoder()
			ae.ByteOrder = binary.BigEndian
			ae.Uint32(ctaStatsFound, 10+uint32(cpu))
			ae.Uint32(ctaStatsInvalid, 3)
			ae.Uint32(ctaStatsInsert, 0)
			ae.Uint32(ctaStatsDrop, 1)
			ae.Uint32(ctaStatsSearchRestart, 42)
			ae.Uint32(ctaStatsClashResolve, 2)
			b, _ := ae.Encode()
			out = append(out, netlink.Message{Header: netlink.Header{Type: msgCTGetStatsCP, Flags: netlink.Multi},
				Data: append([]byte{0, 0, byte(cpu >> 8), byte(cpu)}, b...)})
		}
		out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: make([]byte, 4)})
		return out, nil
	}, perDatagram: 1}
	got, err := Stats(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []CPUStats{
		{CPU: 0, Found: 10, Invalid: 3, Drop: 1, SearchRestart: 42, ClashResolve: 2},
		{CPU: 1, Found: 11, Invalid: 3, Drop: 1, SearchRestart: 42, ClashResolve: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestAnyDying(t *testing.T) {
	for _, n := range []int{0, 3} {
		s := &fakeSocket{fn: func(req []netlink.Message) ([]netlink.Message, error) {
			if req[0].Header.Type != msgCTGetDying || req[0].Header.Flags&netlink.Dump == 0 {
				t.Fatalf("request header = %+v, want a dump of the dying list", req[0].Header)
			}
			var out []netlink.Message
			for range n {
				out = append(out, netlink.Message{Header: netlink.Header{Type: msgCTNew, Flags: netlink.Multi}, Data: make([]byte, 4)})
			}
			out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: make([]byte, 4)})
			return out, nil
		}, perDatagram: 2}
		got, err := anyDying(s)
		if err != nil || got != (n > 0) {
			t.Errorf("%d dying: AnyDying = %v, %v; want %v, nil", n, got, err, n > 0)
		}
	}
}
