package configtree

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// op is one step of a session: a set or a delete, given as the words a
// user would type after the verb, with what the schema would say about
// the last node. Tag nodes are marked by name, as the schema would.
type op struct {
	del      bool
	words    string
	leaf     bool // set: the last word (before any value) is a leaf
	multi    bool // set: a leaf-list
	hasValue bool // set/delete: the last word is a value
}

var tags = map[string]bool{"interface": true, "group": true, "address": true, "sync-group": true}

// apply resolves the words into steps the way the schema layer does and
// runs the operation.
func (o op) apply(t *testing.T, n *Node) bool {
	t.Helper()
	words, err := Tokenize(o.words)
	if err != nil {
		t.Fatal(err)
	}
	var value string
	if o.hasValue {
		value, words = words[len(words)-1], words[:len(words)-1]
	}
	if o.del {
		if o.hasValue {
			return n.Delete(words, &value)
		}
		return n.Delete(words, nil)
	}
	var steps []Step
	for i, w := range words {
		steps = append(steps, Step{Name: w, Tag: tags[w] && i < len(words)-1 && !(o.leaf && i == len(words)-1)})
	}
	n.Set(steps, o.leaf, o.multi, o.hasValue, value)
	return true
}

func set(words string) op      { return op{words: words, leaf: true, hasValue: true} }
func setMulti(words string) op { return op{words: words, leaf: true, multi: true, hasValue: true} }
func setFlag(words string) op  { return op{words: words, leaf: true} }
func setNode(words string) op  { return op{words: words} }
func del(words string) op      { return op{del: true, words: words} }
func delValue(words string) op { return op{del: true, words: words, hasValue: true} }

// TestSession runs step-by-step sessions, checking the whole tree in
// config.boot form after every step.
func TestSession(t *testing.T) {
	type step struct {
		op      op
		changed bool // for deletes: whether something was removed
		want    string
	}
	sessions := []struct {
		name  string
		steps []step
	}{
		{"conntrack-sync", []step{
			{set("service conntrack-sync interface eth1 peer 192.0.2.2"), true, `
service {
    conntrack-sync {
        interface eth1 {
            peer 192.0.2.2
        }
    }
}`},
			{setMulti("service conntrack-sync accept-protocol udp"), true, `
service {
    conntrack-sync {
        accept-protocol udp
        interface eth1 {
            peer 192.0.2.2
        }
    }
}`},
			{setMulti("service conntrack-sync accept-protocol tcp"), true, `
service {
    conntrack-sync {
        accept-protocol udp
        accept-protocol tcp
        interface eth1 {
            peer 192.0.2.2
        }
    }
}`},
			// A repeated leaf-list value is not added twice.
			{setMulti("service conntrack-sync accept-protocol udp"), true, `
service {
    conntrack-sync {
        accept-protocol udp
        accept-protocol tcp
        interface eth1 {
            peer 192.0.2.2
        }
    }
}`},
			{set("service conntrack-sync interface eth1 peer 192.0.2.9"), true, `
service {
    conntrack-sync {
        accept-protocol udp
        accept-protocol tcp
        interface eth1 {
            peer 192.0.2.9
        }
    }
}`},
			{setFlag("service conntrack-sync disable-external-cache"), true, `
service {
    conntrack-sync {
        accept-protocol udp
        accept-protocol tcp
        disable-external-cache
        interface eth1 {
            peer 192.0.2.9
        }
    }
}`},
			{set(`service conntrack-sync description "two words"`), true, `
service {
    conntrack-sync {
        accept-protocol udp
        accept-protocol tcp
        description "two words"
        disable-external-cache
        interface eth1 {
            peer 192.0.2.9
        }
    }
}`},
			{delValue("service conntrack-sync accept-protocol udp"), true, `
service {
    conntrack-sync {
        accept-protocol tcp
        description "two words"
        disable-external-cache
        interface eth1 {
            peer 192.0.2.9
        }
    }
}`},
			{delValue("service conntrack-sync accept-protocol icmp"), false, `
service {
    conntrack-sync {
        accept-protocol tcp
        description "two words"
        disable-external-cache
        interface eth1 {
            peer 192.0.2.9
        }
    }
}`},
			// Deleting the last value removes the leaf.
			{delValue("service conntrack-sync accept-protocol tcp"), true, `
service {
    conntrack-sync {
        description "two words"
        disable-external-cache
        interface eth1 {
            peer 192.0.2.9
        }
    }
}`},
			// The tag entry outlives its last child.
			{del("service conntrack-sync interface eth1 peer"), true, `
service {
    conntrack-sync {
        description "two words"
        disable-external-cache
        interface eth1 {
        }
    }
}`},
			{del("service conntrack-sync interface eth1"), true, `
service {
    conntrack-sync {
        description "two words"
        disable-external-cache
    }
}`},
			{del("service conntrack-sync description"), true, `
service {
    conntrack-sync {
        disable-external-cache
    }
}`},
			// Empty parents are pruned up to the root.
			{del("service conntrack-sync disable-external-cache"), true, ``},
			{del("service conntrack-sync"), false, ``},
		}},
		{"vrrp tag entries", []step{
			{setNode("high-availability vrrp group wan address 198.18.0.101/24"), true, `
high-availability {
    vrrp {
        group wan {
            address 198.18.0.101/24 {
            }
        }
    }
}`},
			{set("high-availability vrrp group wan address 198.18.0.101/24 interface eth0"), true, `
high-availability {
    vrrp {
        group wan {
            address 198.18.0.101/24 {
                interface eth0
            }
        }
    }
}`},
			{set("high-availability vrrp group lan vrid 2"), true, `
high-availability {
    vrrp {
        group lan {
            vrid 2
        }
        group wan {
            address 198.18.0.101/24 {
                interface eth0
            }
        }
    }
}`},
			{del("high-availability vrrp group wan address 198.18.0.101/24 interface"), true, `
high-availability {
    vrrp {
        group lan {
            vrid 2
        }
        group wan {
            address 198.18.0.101/24 {
            }
        }
    }
}`},
			// Deleting one entry keeps the others and the tag node.
			{del("high-availability vrrp group wan"), true, `
high-availability {
    vrrp {
        group lan {
            vrid 2
        }
    }
}`},
			{del("high-availability vrrp group nope"), false, `
high-availability {
    vrrp {
        group lan {
            vrid 2
        }
    }
}`},
			{del("high-availability vrrp group"), true, ``},
		}},
	}
	for _, s := range sessions {
		t.Run(s.name, func(t *testing.T) {
			n := New()
			for i, st := range s.steps {
				changed := st.op.apply(t, n)
				if st.op.del && changed != st.changed {
					t.Errorf("step %d %q: Delete = %v, want %v", i, st.op.words, changed, st.changed)
				}
				want := strings.TrimPrefix(st.want, "\n")
				if want != "" {
					want += "\n"
				}
				if diff := cmp.Diff(want, n.String()); diff != "" {
					t.Fatalf("step %d %q: tree (-want +got):\n%s", i, st.op.words, diff)
				}
				if back := mustParse(t, n.String()); !Equal(n, back) {
					t.Fatalf("step %d: tree does not round-trip through config.boot", i)
				}
			}
		})
	}
}

func TestGet(t *testing.T) {
	n := mustParse(t, `service {
    conntrack-sync {
        accept-protocol tcp
        interface eth1 {
            peer 192.0.2.2
        }
    }
}
`)
	tests := []struct {
		path   []string
		exists bool
		values []string
	}{
		{nil, true, nil},
		{[]string{"service"}, true, nil},
		{[]string{"service", "conntrack-sync", "accept-protocol"}, true, []string{"tcp"}},
		{[]string{"service", "conntrack-sync", "interface", "eth1", "peer"}, true, []string{"192.0.2.2"}},
		{[]string{"service", "conntrack-sync", "interface", "eth2"}, false, nil},
		{[]string{"service", "conntrack-sync", "interface", "eth2", "peer"}, false, nil},
		{[]string{"nothing"}, false, nil},
	}
	for _, tt := range tests {
		got := n.Get(tt.path...)
		if (got != nil) != tt.exists || n.Exists(tt.path...) != tt.exists {
			t.Errorf("Get(%q) = %v, want exists %v", tt.path, got, tt.exists)
			continue
		}
		if got != nil && !cmp.Equal(got.Values, tt.values) {
			t.Errorf("Get(%q).Values = %q, want %q", tt.path, got.Values, tt.values)
		}
	}
	var nilNode *Node
	if nilNode.Get("a") != nil {
		t.Error("Get on a nil node must be nil")
	}
}

func TestCloneIsDeep(t *testing.T) {
	n := mustParse(t, "a {\n    b 1\n    b 2\n}\n")
	c := n.Clone()
	c.Get("a", "b").Values[0] = "x"
	c.Get("a").Children = nil
	if got := n.String(); got != "a {\n    b 1\n    b 2\n}\n" {
		t.Errorf("original changed through its clone:\n%s", got)
	}
}

func TestCommands(t *testing.T) {
	n := mustParse(t, `high-availability {
    vrrp {
        group wan {
            address 198.18.0.101/24 {
            }
            interface eth0
            vrid 1
        }
    }
}
service {
    conntrack-sync {
        accept-protocol udp
        accept-protocol tcp
        description "it's two words"
        disable-external-cache
        interface eth1 {
            peer 192.0.2.2
        }
        presence {
        }
    }
}
`)
	want := []string{
		"set high-availability vrrp group wan address 198.18.0.101/24",
		"set high-availability vrrp group wan interface eth0",
		"set high-availability vrrp group wan vrid 1",
		"set service conntrack-sync accept-protocol udp",
		"set service conntrack-sync accept-protocol tcp",
		`set service conntrack-sync description "it's two words"`,
		"set service conntrack-sync disable-external-cache",
		"set service conntrack-sync interface eth1 peer 192.0.2.2",
		"set service conntrack-sync presence",
	}
	got := n.Commands()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Commands (-want +got):\n%s", diff)
	}
	// Every line tokenizes back to its path.
	paths := n.Paths()
	for i, line := range got {
		words, err := Tokenize(line)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(paths[i], words[1:]); diff != "" {
			t.Errorf("line %q (-path +tokens):\n%s", line, diff)
		}
	}
	if sub := n.Get("service", "conntrack-sync", "interface", "eth1").Commands(); !cmp.Equal(sub, []string{"set peer 192.0.2.2"}) {
		t.Errorf("Commands of a subtree = %q, want paths relative to it", sub)
	}
}

// A comment is configuration for Equal (the candidate has something to
// commit) but not for SameConfig, which tells handlers whether to rerun.
func TestCommentEquality(t *testing.T) {
	a := mustParse(t, "service {\n    conntrack-sync {\n    }\n}\n")
	b := a.Clone()
	b.Get("service").Comment = "replication"
	if Equal(a, b) {
		t.Error("Equal ignores a comment")
	}
	if !SameConfig(a, b) || ChangedUnder(a, b, []string{"service"}) {
		t.Error("SameConfig/ChangedUnder see a comment as a configuration change")
	}
}

func TestCheckComment(t *testing.T) {
	tests := []struct {
		c  string
		ok bool
	}{
		{"uplink; see ticket 4711", true},
		{"", true},
		{"ends */ early", false},
		{"two\nlines", false},
		{strings.Repeat("x", MaxCommentLen+1), false},
	}
	for _, tt := range tests {
		if err := CheckComment(tt.c); (err == nil) != tt.ok {
			t.Errorf("CheckComment(%q) = %v; want ok %v", tt.c, err, tt.ok)
		}
	}
}
