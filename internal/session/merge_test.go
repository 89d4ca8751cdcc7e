package session

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
)

func tree(t *testing.T, s string) *configtree.Node {
	t.Helper()
	n, err := configtree.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const mergeBase = `high-availability {
    vrrp {
        group wan {
            priority 100
            vrid 1
        }
    }
}
service {
    conntrack-sync {
        accept-protocol tcp
    }
}
`

func TestThreeWayMerge(t *testing.T) {
	tests := []struct {
		name, theirs, ours string
		conflict           []string
		want               string
	}{
		{
			name:   "disjoint leaves",
			theirs: strings.Replace(mergeBase, "priority 100", "priority 200", 1),
			ours:   strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        sync-queue-size 4", 1),
			want:   strings.Replace(strings.Replace(mergeBase, "priority 100", "priority 200", 1), "accept-protocol tcp", "accept-protocol tcp\n        sync-queue-size 4", 1),
		},
		{
			name:   "ours deletes a subtree they did not touch",
			theirs: strings.Replace(mergeBase, "priority 100", "priority 200", 1),
			ours:   "high-availability {\n    vrrp {\n        group wan {\n            priority 100\n            vrid 1\n        }\n    }\n}\n",
			want:   "high-availability {\n    vrrp {\n        group wan {\n            priority 200\n            vrid 1\n        }\n    }\n}\n",
		},
		{
			name:   "ours adds a tag entry",
			theirs: strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol udp", 1),
			ours:   strings.Replace(mergeBase, "        group wan {", "        group lan {\n            vrid 2\n        }\n        group wan {", 1),
			want:   strings.Replace(strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol udp", 1), "        group wan {", "        group lan {\n            vrid 2\n        }\n        group wan {", 1),
		},
		{
			name:   "different values added to one leaf-list",
			theirs: strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp", 1),
			ours:   strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol icmp", 1),
			want:   strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp\n        accept-protocol icmp", 1),
		},
		{
			name:   "one removes a value, the other adds one",
			theirs: strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp", 1),
			ours:   strings.Replace(mergeBase, "        accept-protocol tcp\n", "        accept-protocol sctp\n", 1),
			want:   strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol udp\n        accept-protocol sctp", 1),
		},
		{
			name:   "both add the same value",
			theirs: strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp", 1),
			ours:   strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp", 1),
			want:   strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp", 1),
		},
		{
			name:     "they delete the leaf-list we add to",
			theirs:   strings.Replace(mergeBase, "        accept-protocol tcp\n", "        sync-queue-size 2\n", 1),
			ours:     strings.Replace(mergeBase, "accept-protocol tcp", "accept-protocol tcp\n        accept-protocol udp", 1),
			conflict: nil,
			want:     strings.Replace(mergeBase, "        accept-protocol tcp\n", "        accept-protocol udp\n        sync-queue-size 2\n", 1),
		},
		{
			name:     "same leaf",
			theirs:   strings.Replace(mergeBase, "priority 100", "priority 200", 1),
			ours:     strings.Replace(mergeBase, "priority 100", "priority 50", 1),
			conflict: []string{"high-availability vrrp group wan priority"},
		},
		{
			name:     "they delete what we edit under",
			theirs:   "service {\n    conntrack-sync {\n        accept-protocol tcp\n    }\n}\n",
			ours:     strings.Replace(mergeBase, "priority 100", "priority 50", 1),
			conflict: []string{"high-availability vrrp group wan priority"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, theirs, ours := tree(t, mergeBase), tree(t, tt.theirs), tree(t, tt.ours)
			multi := schema.Default().IsMulti
			oc := configtree.Changes(base, ours, multi)
			c := conflicts(oc, configtree.Changes(base, theirs, multi))
			var got []string
			for _, ch := range c {
				got = append(got, ch.String())
			}
			if diff := cmp.Diff(tt.conflict, got); diff != "" {
				t.Fatalf("conflicts (-want +got):\n%s", diff)
			}
			if len(c) > 0 {
				return
			}
			if diff := cmp.Diff(tt.want, replay(theirs, ours, oc).String()); diff != "" {
				t.Errorf("merged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCommit(t *testing.T) {
	tests := []struct {
		cmd     string
		args    []string
		want    commitArgs
		wantErr string
	}{
		{cmd: "commit"},
		{cmd: "commit", args: []string{"check"}, want: commitArgs{check: true}},
		{cmd: "commit", args: []string{"comment", "new peer"}, want: commitArgs{comment: "new peer"}},
		{cmd: "commit", args: []string{"comment", "new", "peer"}, want: commitArgs{comment: "new peer"}},
		{cmd: "commit", args: []string{"confirmed"}, want: commitArgs{confirm: 10}},
		{cmd: "commit", args: []string{"confirmed", "3", "comment", "x"}, want: commitArgs{confirm: 3, comment: "x"}},
		{cmd: "commit-confirm", want: commitArgs{confirm: 10}},
		{cmd: "commit-confirm", args: []string{"1440"}, want: commitArgs{confirm: 1440}},
		{cmd: "commit-confirm", args: []string{"1441"}, wantErr: "1-1440"},
		{cmd: "commit", args: []string{"5"}, wantErr: "unexpected"},
		{cmd: "commit", args: []string{"check", "now"}, wantErr: "unexpected"},
		{cmd: "commit", args: []string{"comment", "a\nb"}, wantErr: "control character"},
		{cmd: "commit", args: []string{"comment", " "}, wantErr: "empty"},
		{cmd: "commit", args: []string{"local"}, want: commitArgs{local: true}},
		{cmd: "commit", args: []string{"loc", "comment", "r2 is down"}, want: commitArgs{local: true, comment: "r2 is down"}},
		{cmd: "commit", args: []string{"comment", "local"}, want: commitArgs{comment: "local"}},
		{cmd: "commit", args: []string{"confirmed", "local"}, wantErr: "unexpected"},
		{cmd: "commit-confirm", args: []string{"local"}, wantErr: "unexpected"},
		{cmd: "commit", args: []string{"check", "local"}, want: commitArgs{check: true, local: true}},
		{cmd: "commit", args: []string{"local", "check"}, wantErr: "unexpected"},
		{cmd: "commit", args: []string{"check", "local", "comment", "x"}, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		got, err := parseCommit(tt.cmd, tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s %q: error %v, want %q", tt.cmd, tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q = %+v, %v; want %+v", tt.cmd, tt.args, got, err, tt.want)
		}
	}
}

// FuzzParseCommit feeds the commit line parser what an operator might
// type after commit or commit-confirm: it never panics, and what it
// accepts is a commit it can run: a check with nothing else, minutes in
// range only for a commit-confirm, and a comment that fits one line of
// the archive listing.
func FuzzParseCommit(f *testing.F) {
	for _, s := range []string{"", "check", "comment new peer", `comment "a b"`, "confirmed 3 comment x", "5", "check now", "conf", "ch", "confirmed 1441", "comment \"\t\""} {
		f.Add(false, s)
	}
	for _, s := range []string{"", "1440", "0", "7 comment x", "comment 5", "99999999999999999999"} {
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, confirm bool, line string) {
		words, err := configtree.Tokenize(line)
		if err != nil {
			return
		}
		cmd := "commit"
		if confirm {
			cmd = "commit-confirm"
		}
		a, err := parseCommit(cmd, words)
		if err != nil {
			return
		}
		switch {
		case a.check && (a.comment != "" || a.confirm != 0 || confirm):
			t.Fatalf("%s %q: a check with more: %+v", cmd, line, a)
		case confirm && a.confirm == 0:
			t.Fatalf("%s %q: commit-confirm without minutes: %+v", cmd, line, a)
		case a.confirm < 0 || a.confirm > 1440:
			t.Fatalf("%s %q: minutes out of range: %+v", cmd, line, a)
		case a.comment != "" && checkComment(a.comment) != nil:
			t.Fatalf("%s %q: accepted comment %q: %v", cmd, line, a.comment, checkComment(a.comment))
		}
	})
}
