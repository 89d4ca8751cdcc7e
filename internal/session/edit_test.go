package session

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/configtree"
)

// TestEditSteps walks a session through levels, relative paths,
// abbreviations, copy, rename and comment; after each step it checks
// the level, what the command printed and the whole candidate (as set
// commands), and that a failed step changed neither.
func TestEditSteps(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, baseConfig...)
	base := strings.Join(s.Candidate().Commands(), "\n")
	steps := []struct {
		line    string
		wantErr string // substring; the step must then change nothing
		out     string // exact output, when not "-"
		level   string
		cand    string // the candidate's set commands; "" = unchanged
	}{
		{line: "edit high-availability vrrp group wan", out: "", level: "high-availability vrrp group wan"},
		{line: "set priority 200", out: "", level: "high-availability vrrp group wan",
			cand: base + "\nset high-availability vrrp group wan priority 200"},
		{line: "show priority", out: "priority 200\n", level: "high-availability vrrp group wan"},
		{line: "show commands", out: "set address 198.18.0.101/24\nset interface eth0\nset priority 200\nset vrid 1\n", level: "high-availability vrrp group wan"},
		{line: "show | commands", out: "-", level: "high-availability vrrp group wan"},
		{line: "delete priority", out: "", level: "high-availability vrrp group wan", cand: base},
		// Errors name the whole path, the level's words included.
		{line: "set vrid 300", wantErr: "high-availability vrrp group wan vrid 300", level: "high-availability vrrp group wan"},
		{line: "set bogus 1", wantErr: "high-availability vrrp group wan bogus: unknown node", level: "high-availability vrrp group wan"},
		{line: "up", out: "", level: "high-availability vrrp"},
		{line: "copy group wan to group wan3", out: "", level: "high-availability vrrp",
			cand: base + "\n" + strings.ReplaceAll(strings.Join(filterLines(base, "group wan "), "\n"), "group wan ", "group wan3 ")},
		{line: "copy group wan to group wan3", wantErr: "high-availability vrrp group wan3: already exists", level: "high-availability vrrp"},
		{line: "rename group wan3 to group wan2", out: "", level: "high-availability vrrp",
			cand: base + "\n" + strings.ReplaceAll(strings.Join(filterLines(base, "group wan "), "\n"), "group wan ", "group wan2 ")},
		{line: "rename group nope to group x", wantErr: "high-availability vrrp group nope: configuration path does not exist", level: "high-availability vrrp"},
		{line: "rename group wan2 to sync-group x", wantErr: "stays within one tag node", level: "high-availability vrrp"},
		{line: "rename group wan2 wan4", wantErr: "usage: rename", level: "high-availability vrrp"},
		{line: "delete group wan2", out: "", level: "high-availability vrrp", cand: base},
		{line: `comment group wan "uplink; ticket 4711"`, out: "", level: "high-availability vrrp", cand: base},
		{line: `comment group wan "a */ b"`, wantErr: `high-availability vrrp group wan: comment: a comment may not contain "*/"`, level: "high-availability vrrp"},
		{line: `comment group "x"`, wantErr: "not the tag node", level: "high-availability vrrp"},
		{line: "top", out: "", level: ""},
		{line: "up", wantErr: "already at the top", level: ""},
		// Abbreviations, as on routers.
		{line: "ed high vr gr wan", out: "", level: "high-availability vrrp group wan"},
		{line: "e", wantErr: `ambiguous: "e" could be edit, exit`, level: "high-availability vrrp group wan"},
		{line: "exit", out: "", level: ""},
		{line: "set serv con int eth2 peer 198.18.20.3", out: "", level: "",
			cand: strings.Replace(base, "set service conntrack-sync interface eth1 peer 198.18.10.3", "set service conntrack-sync interface eth1 peer 198.18.10.3\nset service conntrack-sync interface eth2 peer 198.18.20.3", 1)},
		{line: "del serv con int eth2", out: "", level: "", cand: base},
		{line: "set serv con i eth2", wantErr: `service conntrack-sync i: ambiguous: "i" could be ignore-address, interface`, level: ""},
		{line: "co", wantErr: `ambiguous: "co" could be compare, copy, comment, commit, commit-confirm, confirm`, level: ""},
		{line: "sh serv con int eth1", out: "peer 198.18.10.3\n", level: ""},
		{line: "edit service conntrack-sync interface", wantErr: "edit needs the entry's name", level: ""},
		{line: "edit service conntrack-sync mcast-group", wantErr: "is a leaf", level: ""},
		{line: "run show vrrp", wantErr: "op-mode commands run in the ctsync shell", level: ""},
	}
	for _, st := range steps {
		before := s.Candidate()
		out, err := s.Exec(context.Background(), st.line)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: error %v, want one containing %q", st.line, err, st.wantErr)
			}
			if !configtree.Equal(before, s.Candidate()) {
				t.Fatalf("%s: a failed command changed the candidate", st.line)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", st.line, err)
		}
		if st.out != "-" && st.wantErr == "" && out != st.out {
			t.Errorf("%s: printed %q, want %q", st.line, out, st.out)
		}
		if got := strings.Join(s.Level(), " "); got != st.level {
			t.Fatalf("%s: level %q, want %q", st.line, got, st.level)
		}
		want := st.cand
		if want == "" {
			want = strings.Join(before.Commands(), "\n")
		}
		if diff := cmp.Diff(sorted(want), sorted(strings.Join(s.Candidate().Commands(), "\n"))); diff != "" {
			t.Fatalf("after %s, candidate (-want +got):\n%s", st.line, diff)
		}
	}
	if got := s.Candidate().Get("high-availability", "vrrp", "group", "wan").Comment; got != "uplink; ticket 4711" {
		t.Errorf("comment = %q", got)
	}
}

func filterLines(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func sorted(s string) []string {
	l := strings.Split(s, "\n")
	slices.Sort(l)
	return l
}

// A comment survives commit, save and load, and compare saved sees what
// the candidate changed since the save.
func TestCommentSaveLoadAndCompareSaved(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, baseConfig...)
	run(t, s, `comment high-availability vrrp group wan "uplink"`, "commit", "save")
	saved := fileOrAbsent(t, r.root.ConfigBoot())
	if !strings.Contains(saved, "        /* uplink */\n        group wan {\n") {
		t.Fatalf("saved config.boot lacks the comment above its node:\n%s", saved)
	}
	s2 := r.session()
	run(t, s2, "delete service", "load config.boot")
	if got := s2.Candidate().Get("high-availability", "vrrp", "group", "wan").Comment; got != "uplink" {
		t.Errorf("comment after load = %q", got)
	}
	if s2.Modified() {
		t.Errorf("load of the saved config is a change:\n%s", configtree.Diff(s.Candidate(), s2.Candidate()))
	}
	out, err := s2.Exec(context.Background(), "compare saved")
	if err != nil || !strings.HasPrefix(out, "No changes between saved") {
		t.Errorf("compare saved right after load: %q, %v", out, err)
	}
	run(t, s2, "set high-availability vrrp group wan priority 50", "edit high-availability vrrp")
	out, err = s2.Exec(context.Background(), "compare sa")
	if err != nil || !strings.Contains(out, "+priority 50") {
		t.Errorf("compare saved after a change: %q, %v", out, err)
	}
	// A comment-only change still commits (it is kept in config.boot).
	run(t, s2, "top", `comment service conntrack-sync "replication"`)
	out, err = s2.Exec(context.Background(), "compare")
	if err != nil || !strings.Contains(out, "priority 50") {
		t.Errorf("compare: %q %v", out, err)
	}
	if err := os.Remove(r.root.ConfigBoot()); err != nil {
		t.Fatal(err)
	}
	if out, err := s2.Exec(context.Background(), "compare saved"); err != nil || !strings.Contains(out, "+high-availability {") {
		t.Errorf("compare saved without a saved file: %q, %v", out, err)
	}
}

func TestExitLeavesTheLevelFirst(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, "edit service conntrack-sync", "set accept-protocol tcp", "exit")
	if s.Exited() || len(s.Level()) != 0 {
		t.Fatalf("exit at a level: exited %v, level %q; want the top", s.Exited(), s.Level())
	}
	if _, err := s.Exec(context.Background(), "exit"); err == nil || s.Exited() {
		t.Fatalf("exit at the top with changes: %v", err)
	}
	run(t, s, "edit service conntrack-sync", "exit disc")
	if !s.Exited() {
		t.Fatal("exit discard at a level did not leave the shell")
	}
}

// FuzzEditCommands: whatever line is typed, the command parser does not
// panic, and a line that fails changes neither the candidate nor the
// level. Commands that reach files or the commit engine are left out:
// they are not parsing.
func FuzzEditCommands(f *testing.F) {
	for _, l := range []string{
		"edit high-availability vrrp group wan", "up", "top", "exit", "exit discard",
		"copy group wan to group wan3", "rename group wan to group x", "rename high vrrp group wan to high vrrp group w2",
		`comment group wan "text"`, `comment service conntrack-sync ""`, "show | commands", "sh serv con comm",
		"compare saved", "set serv con i eth1", "delete high vrrp gr wan vrid", "ed high vrrp sync-group MAIN",
	} {
		f.Add("edit high-availability vrrp", l)
		f.Add("", l)
	}
	r := newRig(f)
	f.Fuzz(func(t *testing.T, first, line string) {
		s := r.session()
		run(t, s, baseConfig...)
		for _, l := range []string{first, line} {
			words, err := configtree.Tokenize(l)
			if err == nil && len(words) > 0 {
				switch w, _ := CommandWord(words[0]); w {
				case "commit", "commit-confirm", "save", "load", "merge", "rollback", "confirm":
					return
				}
			}
			before, level := s.Candidate(), strings.Join(s.Level(), " ")
			if _, err := s.Exec(context.Background(), l); err != nil {
				if !configtree.Equal(before, s.Candidate()) || strings.Join(s.Level(), " ") != level {
					t.Fatalf("%q failed (%v) but changed the candidate or the level", l, err)
				}
			}
		}
	})
}

// A comment-only commit is kept in the running configuration but
// reruns no handler: comments change no engine.
func TestCommentOnlyCommitTouchesNoEngine(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, baseConfig...)
	run(t, s, "commit")
	r.log.Take()
	run(t, s, `comment service conntrack-sync "replication"`)
	if !s.Modified() {
		t.Fatal("a comment does not count as a change to commit")
	}
	out, err := s.Exec(context.Background(), "commit")
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if calls := r.log.Take(); len(calls) != 0 {
		t.Errorf("a comment-only commit ran handlers: %q (output %q)", calls, out)
	}
	running, _ := r.eng.Running()
	if got := running.Get("service", "conntrack-sync").Comment; got != "replication" {
		t.Errorf("running comment = %q", got)
	}
}
