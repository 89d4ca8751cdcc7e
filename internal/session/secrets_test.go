package session

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var withPassword = append(append([]string(nil), baseConfig...),
	"set high-availability vrrp group wan authentication type plaintext-password",
	"set high-availability vrrp group wan authentication password s3cret",
)

const passwordPath = "high-availability vrrp group wan authentication password"

// TestSecretsOfAUserWhoMayNotSeeThem holds a session that hides secrets
// (a member of the ctsync group) to it everywhere it writes or prints
// another's configuration: a file it saves, the merge report and the
// conflict report of a commit; and holds load and merge to refusing a
// file where the mask stands for a secret, which would otherwise become
// the password.
func TestSecretsOfAUserWhoMayNotSeeThem(t *testing.T) {
	r := newRig(t)
	admin := r.session()
	run(t, admin, append(withPassword, "commit")...)
	member := r.session()
	member.SetHideSecrets(true)
	dir := t.TempDir()
	ctx := context.Background()

	t.Run("save FILE is masked, config.boot is not", func(t *testing.T) {
		mine := filepath.Join(dir, "mine.boot")
		out, err := member.Exec(ctx, "save "+mine)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, passwordPath+": saved as "+Masked) {
			t.Errorf("save output does not name the masked secret:\n%s", out)
		}
		if got := fileOrAbsent(t, mine); strings.Contains(got, "s3cret") || !strings.Contains(got, `password "`+Masked+`"`) {
			t.Errorf("the member's file:\n%s", got)
		}
		// Root's save FILE and anyone's save to config.boot (ctsyncd's
		// own file, root's alone) keep the secret.
		full := filepath.Join(dir, "full.boot")
		run(t, admin, "save "+full)
		if !strings.Contains(fileOrAbsent(t, full), "password s3cret") {
			t.Errorf("root's save FILE lost the password:\n%s", fileOrAbsent(t, full))
		}
		// Spelled with a detour, config.boot is still config.boot.
		detour := filepath.Join(r.root.ConfigDir(), "..", filepath.Base(r.root.ConfigDir()), filepath.Base(r.root.ConfigBoot()))
		for _, target := range []string{"", detour} {
			if err := os.Remove(r.root.ConfigBoot()); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out, err := member.Exec(ctx, strings.TrimSpace("save "+target))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, Masked) || !strings.Contains(fileOrAbsent(t, r.root.ConfigBoot()), "password s3cret") {
				t.Errorf("save %s by the member: config.boot lacks the password:\n%s", target, out)
			}
			if fi, err := os.Stat(r.root.ConfigBoot()); err != nil || fi.Mode().Perm()&0o007 != 0 {
				t.Errorf("config.boot: %v (%v): readable by others", fi.Mode().Perm(), err)
			}
		}
	})

	t.Run("load and merge refuse masked secrets", func(t *testing.T) {
		masked := filepath.Join(dir, "masked.boot")
		run(t, member, "save "+masked)
		s := r.session()
		run(t, s, "set high-availability vrrp group wan priority 50")
		before := s.Candidate()
		for _, cmd := range []string{"load", "merge"} {
			_, err := s.Exec(ctx, cmd+" "+masked)
			if err == nil || !strings.Contains(err.Error(), passwordPath+": "+Masked+" stands where the secret was") || !strings.Contains(err.Error(), "Nothing was loaded") {
				t.Errorf("%s of a file with a masked password: %v", cmd, err)
			}
			if c := s.Candidate(); c.String() != before.String() {
				t.Errorf("%s changed the candidate:\n%s", cmd, c)
			}
		}
		run(t, s, "load "+filepath.Join(dir, "full.boot"))
	})

	t.Run("another's commit is reported masked", func(t *testing.T) {
		m := r.session()
		m.SetHideSecrets(true)
		run(t, admin, "set high-availability vrrp group wan authentication password n3wpass", "commit")
		run(t, m, "set service conntrack-sync sync-queue-size 4")
		out, err := m.Exec(ctx, "commit")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "were merged") || strings.Contains(out, "n3wpass") || !strings.Contains(out, "+password") || !strings.Contains(out, Masked) {
			t.Errorf("merge report to a member:\n%s", out)
		}

		m = r.session()
		m.SetHideSecrets(true)
		run(t, admin, "set high-availability vrrp group wan authentication password 0ther", "commit")
		run(t, m, "set high-availability vrrp group wan authentication password mine")
		_, err = m.Exec(ctx, "commit")
		if err == nil || !strings.Contains(err.Error(), "another session committed") || !strings.Contains(err.Error(), passwordPath) {
			t.Fatalf("conflicting commit: %v", err)
		}
		if strings.Contains(err.Error(), "0ther") || strings.Contains(err.Error(), "n3wpass") || !strings.Contains(err.Error(), Masked) {
			t.Errorf("conflict report to a member:\n%s", err)
		}
		// compare shows the member's own change of a secret, masked.
		out, err = m.Exec(ctx, "compare")
		if err != nil || strings.Contains(out, "mine") || !strings.Contains(out, "-password "+Masked) || !strings.Contains(out, "+password "+Masked) {
			t.Errorf("compare of a changed password by a member: %v\n%s", err, out)
		}
		// Root sees what it may.
		a := r.session()
		run(t, admin, "set high-availability vrrp group wan authentication password thrd", "commit")
		run(t, a, "set high-availability vrrp group wan authentication password x")
		if _, err := a.Exec(ctx, "commit"); err == nil || !strings.Contains(err.Error(), "+password thrd") {
			t.Errorf("conflict report to root: %v", err)
		}
	})
}
