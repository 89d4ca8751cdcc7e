package pair

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

func TestIdentityMadeOnceMode0600(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	if _, err := ReadFingerprint(root); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("before first start: got %v, want ErrNoIdentity", err)
	}
	a, err := LoadOrCreate(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(root.PairKey())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	b, err := LoadOrCreate(root)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("second start made another identity: %s then %s", a.Fingerprint, b.Fingerprint)
	}
	fp, err := ReadFingerprint(root)
	if err != nil || fp != a.Fingerprint {
		t.Errorf("ReadFingerprint = %q, %v; want %q", fp, err, a.Fingerprint)
	}
	if !ValidFingerprint(fp) {
		t.Errorf("%q does not match the schema's pattern", fp)
	}
}

func newIdentity(t *testing.T) *Identity {
	t.Helper()
	id, err := LoadOrCreate(paths.Root{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// handshake runs one TLS handshake between a client holding client and
// pinning serverPin, and a server holding server and pinning clientPin.
func handshake(t *testing.T, client, server *Identity, serverPin, clientPin string) (clientErr, serverErr error) {
	t.Helper()
	// TCP over loopback, not net.Pipe: a pipe has no buffer, and both
	// ends writing an alert at once would deadlock.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = a.SetDeadline(time.Now().Add(10 * time.Second))
	_ = b.SetDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() {
		s := tls.Server(b, serverConfig(server, clientPin, nil))
		err := s.Handshake()
		if err == nil {
			// TLS 1.3: the server's verdict on the client certificate
			// reaches the client on its first read.
			_, err = s.Write([]byte("ok"))
		}
		s.Close()
		done <- err
	}()
	c := tls.Client(a, clientConfig(client, serverPin))
	clientErr = c.Handshake()
	if clientErr == nil {
		buf := make([]byte, 2)
		_, clientErr = c.Read(buf)
	}
	c.Close()
	return clientErr, <-done
}

func TestPinning(t *testing.T) {
	r1, r2, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	tests := []struct {
		name                 string
		client, server       *Identity
		serverPin, clientPin string
		clientOK, serverOK   bool
	}{
		{"both pinned", r1, r2, r2.Fingerprint, r1.Fingerprint, true, true},
		{"server holds another key", r1, stranger, r2.Fingerprint, r1.Fingerprint, false, false},
		{"client holds another key", stranger, r2, r2.Fingerprint, r1.Fingerprint, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cerr, serr := handshake(t, tc.client, tc.server, tc.serverPin, tc.clientPin)
			if (cerr == nil) != tc.clientOK || (serr == nil) != tc.serverOK {
				t.Fatalf("client err %v, server err %v; want client ok %v, server ok %v", cerr, serr, tc.clientOK, tc.serverOK)
			}
		})
	}
	// The side that holds the pin names the key it was shown.
	cerr, _ := handshake(t, r1, stranger, r2.Fingerprint, r1.Fingerprint)
	var me *MismatchError
	if !errors.As(cerr, &me) || me.Presented != stranger.Fingerprint || me.Pinned != r2.Fingerprint {
		t.Errorf("client error %v: want a MismatchError naming %s", cerr, stranger.Fingerprint)
	}
	_, serr := handshake(t, stranger, r2, r2.Fingerprint, r1.Fingerprint)
	if !errors.As(serr, &me) || me.Presented != stranger.Fingerprint {
		t.Errorf("server error %v: want a MismatchError naming %s", serr, stranger.Fingerprint)
	}
}

func TestRequestBounds(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], MaxSyncRequest+1)
		// The length alone is refused: nothing is read or allocated for
		// the body.
		_, err := DecodeRequest(bytes.NewReader(hdr[:]))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		// Only a prepare, which carries a synced part, may be larger
		// than MaxRequest.
		for _, op := range []string{OpStatus, OpCommit} {
			body := `{"op":"` + op + `"` + strings.Repeat(" ", MaxRequest) + `}`
			var b bytes.Buffer
			binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
			b.Write(hdr[:])
			b.WriteString(body)
			if _, err := DecodeRequest(&b); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s of %d bytes: got %v, want ErrTooLarge", op, len(body), err)
			}
		}
		var big bytes.Buffer
		if err := writeMsg(&big, Request{Op: strings.Repeat("x", MaxRequest)}, MaxRequest); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("writing an oversized request: got %v, want ErrTooLarge", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		id := strings.Repeat("ab", idBytes)
		for _, body := range []string{`{"op":"status","extra":1}`, `{"op":"reboot"}`, `{"op":"status","force":true}`, `{"op":"status"} {}`, `[`,
			`{"op":"commit"}`, `{"op":"commit","id":"xyz"}`, `{"op":"commit","id":"` + strings.ToUpper(id) + `"}`,
			`{"op":"commit","id":"` + id + `","synced":"x"}`, `{"op":"abort","id":"` + id + `","force":true}`,
			`{"op":"prepare","id":"` + id + `"}`, `{"op":"prepare","id":"` + id + `","from":"r1\nr2"}`,
			`{"op":"prepare","id":"` + id + `","from":"r1","base":"abc"}`, `{"op":"synced","id":"` + id + `"}`,
			`{"op":"status","user":"root"}`} {
			var b bytes.Buffer
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
			b.Write(hdr[:])
			b.WriteString(body)
			if _, err := DecodeRequest(&b); err == nil {
				t.Errorf("%s: accepted", body)
			}
		}
	})
	t.Run("time", func(t *testing.T) {
		old := IOTimeout
		IOTimeout = 300 * time.Millisecond
		defer func() { IOTimeout = old }()
		s, _ := newService(t, "127.0.0.1", "127.0.0.2", newIdentity(t).Fingerprint)
		// A peer that connects and says nothing is cut off by the
		// deadline, not held forever.
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", net.JoinHostPort("127.0.0.1", "37901"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %v: the server kept a silent connection open", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("silent connection closed after %v", d)
		}
		s.Stop()
	})
}

func testTree(t *testing.T, lines ...string) *configtree.Node {
	t.Helper()
	s := schema.Default()
	tree := configtree.New()
	for _, l := range lines {
		if err := s.Set(tree, strings.Fields(l)); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	return tree
}

// newService runs a Service on local:37901 pinning peerPin, collecting
// from a root of its own.
func newService(t *testing.T, local, peer, peerPin string) (*Service, *Identity) {
	t.Helper()
	root := paths.Root{Dir: t.TempDir()}
	id, err := LoadOrCreate(root)
	if err != nil {
		t.Fatal(err)
	}
	tree := testTree(t, "high-availability vrrp group lan interface eth0", "high-availability vrrp group lan vrid 1",
		"high-availability vrrp group lan address 198.18.0.1/24", "high-availability vrrp sync-group MAIN member lan")
	s := &Service{
		Identity: id,
		Log:      zap.NewNop(),
		Collector: &Collector{Root: root, Schema: schema.Default(), Identity: id.Fingerprint,
			Running: func() (*configtree.Node, int) { return tree, 3 },
			Ready:   func(context.Context) (bool, string) { return true, "" }},
	}
	if err := s.Configure(&Config{Name: local, PeerAddress: peer, PeerIdentity: peerPin, LocalAddress: local, Port: 37901}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, id
}

// TestServicePair runs two channels over loopback (127.0.0.1 and
// 127.0.0.2) and checks what each node's view says, pinned rightly and
// wrongly.
func TestServicePair(t *testing.T) {
	ctx := context.Background()
	t.Run("pinned", func(t *testing.T) {
		r1id, r2id := newIdentity(t), newIdentity(t)
		a, b := pairOf(t, r1id, r2id, r2id.Fingerprint, r1id.Fingerprint)
		for _, s := range []*Service{a, b} {
			v := s.View(ctx, true)
			if v.Channel != ChannelUp || v.Peer == nil {
				t.Fatalf("%s: channel %s (%s), peer %v", v.Local.Name, v.Channel, v.ChannelInfo, v.Peer)
			}
			if v.Peer.Name == v.Local.Name {
				t.Errorf("peer named like the local node: %s", v.Peer.Name)
			}
			if len(v.Alarms) != 0 {
				t.Errorf("%s: alarms %q", v.Local.Name, v.Alarms)
			}
		}
	})
	t.Run("r1 pins a stranger", func(t *testing.T) {
		r1id, r2id := newIdentity(t), newIdentity(t)
		a, b := pairOf(t, r1id, r2id, newIdentity(t).Fingerprint, r1id.Fingerprint)
		va, vb := a.View(ctx, true), b.View(ctx, true)
		if va.Channel != ChannelMismatch || !strings.Contains(va.ChannelInfo, r2id.Fingerprint) {
			t.Errorf("r1: channel %s (%s): want an identity mismatch naming r2's key", va.Channel, va.ChannelInfo)
		}
		if vb.Channel != ChannelMismatch || !strings.Contains(vb.ChannelInfo, r2id.Fingerprint) {
			t.Errorf("r2: channel %s (%s): want an identity mismatch telling r2's operator to pin it on r1", vb.Channel, vb.ChannelInfo)
		}
		for _, v := range []*View{va, vb} {
			if v.Peer != nil || len(v.Alarms) == 0 || !strings.HasPrefix(v.Alarms[0], "identity mismatch") {
				t.Errorf("%s: peer %v, alarms %q", v.Local.Name, v.Peer, v.Alarms)
			}
		}
	})
}

func pairOf(t *testing.T, id1, id2 *Identity, pin1, pin2 string) (*Service, *Service) {
	t.Helper()
	mk := func(id *Identity, local, peer, pin string) *Service {
		root := paths.Root{Dir: t.TempDir()}
		tree := testTree(t, "high-availability vrrp group lan interface eth0", "high-availability vrrp group lan vrid 1",
			"high-availability vrrp group lan address 198.18.0.1/24", "high-availability vrrp sync-group MAIN member lan",
			"high-availability vrrp group lan priority 100")
		s := &Service{Identity: id, Log: zap.NewNop(),
			Collector: &Collector{Root: root, Schema: schema.Default(), Identity: id.Fingerprint,
				Running: func() (*configtree.Node, int) { return tree, 1 },
				Ready:   func(context.Context) (bool, string) { return true, "" }}}
		if err := s.Configure(&Config{Name: "n" + local, PeerAddress: peer, PeerIdentity: pin, LocalAddress: local, Port: 37902}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return s
	}
	return mk(id1, "127.0.0.1", "127.0.0.2", pin1), mk(id2, "127.0.0.2", "127.0.0.1", pin2)
}
