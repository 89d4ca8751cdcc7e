package kernelinfo

import (
	"errors"
	"testing"
	"testing/fstest"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    Info
		wantErr error
		errText string
	}{
		{
			name: "both present",
			fs: fstest.MapFS{
				HashSizePath:     {Data: []byte("65536\n")},
				ConntrackMaxPath: {Data: []byte("262144\n")},
			},
			want: Info{HashSize: 65536, ConntrackMax: 262144},
		},
		{
			// systemd-nspawn hides /sys/module; /proc/sys has the same number.
			name: "in a container",
			fs: fstest.MapFS{
				BucketsPath:      {Data: []byte("65536\n")},
				ConntrackMaxPath: {Data: []byte("262144\n")},
			},
			want: Info{HashSize: 65536, ConntrackMax: 262144},
		},
		{
			name:    "module not loaded",
			fs:      fstest.MapFS{},
			wantErr: ErrNotLoaded,
		},
		{
			name: "max missing",
			fs: fstest.MapFS{
				HashSizePath: {Data: []byte("65536\n")},
			},
			wantErr: ErrNotLoaded,
		},
		{
			name: "garbage",
			fs: fstest.MapFS{
				HashSizePath:     {Data: []byte("lots\n")},
				ConntrackMaxPath: {Data: []byte("262144\n")},
			},
			errText: `reading /sys/module/nf_conntrack/parameters/hashsize: not an integer: "lots"`,
		},
		{
			name: "zero",
			fs: fstest.MapFS{
				HashSizePath:     {Data: []byte("1\n")},
				ConntrackMaxPath: {Data: []byte("0\n")},
			},
			errText: `reading /proc/sys/net/netfilter/nf_conntrack_max: not a positive integer: 0`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.fs)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read() error = %v, want %v", err, tt.wantErr)
				}
				return
			case tt.errText != "":
				if err == nil || err.Error() != tt.errText {
					t.Fatalf("Read() error = %v, want %q", err, tt.errText)
				}
				return
			case err != nil:
				t.Fatalf("Read(): %v", err)
			}
			if got != tt.want {
				t.Errorf("Read() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"65536\n", "0", "-1", " 12 ", "99999999999", "1e3", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseInt(b)
		if err == nil && n <= 0 {
			t.Fatalf("ParseInt(%q) = %d without error", b, n)
		}
	})
}
