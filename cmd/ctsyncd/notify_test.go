package main

import (
	"net"
	"path/filepath"
	"testing"
)

func TestSdNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "notify")
		name, listen := path, path
		if abstract {
			name, listen = "@ctsyncd-test-"+filepath.Base(filepath.Dir(path)), "\x00ctsyncd-test-"+filepath.Base(filepath.Dir(path))
		}
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: listen, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sdNotify(name, "READY=1\nSTATUS=serving"); err != nil {
			t.Fatalf("sdNotify(%q): %v", name, err)
		}
		buf := make([]byte, 256)
		n, _, err := c.ReadFromUnix(buf)
		c.Close()
		if err != nil || string(buf[:n]) != "READY=1\nSTATUS=serving" {
			t.Fatalf("received %q, %v", buf[:n], err)
		}
	}
	if err := sdNotify("", "READY=1"); err != nil {
		t.Fatalf("without a socket: %v, want nothing done", err)
	}
}
