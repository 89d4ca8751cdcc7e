// save, load and merge: the commands that move a configuration between
// the candidate and a file.

package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/migrate"
	"github.com/ctsync/ctsync/internal/schema"
)

// save writes the running configuration (what is committed, as in VyOS)
// as the saved one, which the service keeps, or to FILE (relative names
// under the config dir) with the operator's permissions, with the
// version footer that lets a later release migrate it.
//
// config.boot is ctsyncd's own file, readable by root only, and holds
// the secrets whoever saves it. FILE is the operator's, written with the
// operator's permissions: for a user who may not see secrets (a member
// of the ctsync group) it holds them masked, and the output names each
// one. Such a file is still worth having (a backup, a diff, a template
// for the peer), which a refusal would not give; load and merge refuse
// it until the masks are replaced, so the mask never becomes a password.
func (s *Session) save(args []string) (string, error) {
	if len(args) == 0 || s.resolveFile(args[0]) == s.root.ConfigBoot() {
		path, err := s.svc.Save()
		if err != nil {
			return "", fmt.Errorf("save: %w; nothing was saved", err)
		}
		return fmt.Sprintf("Saved configuration to %s\n", path), nil
	}
	target := s.resolveFile(args[0])
	running, _ := s.svc.Running()
	var masked [][]string
	if s.hide {
		masked = Secrets(running)
		running = MaskSecrets(running)
	}
	data, err := migrate.Format(running)
	if err != nil {
		return "", err
	}
	if err := s.fileAccess().WriteFile(target, data, 0o640); err != nil {
		return "", fmt.Errorf("save: %w; nothing was saved", err)
	}
	out := fmt.Sprintf("Saved configuration to %s\n", target)
	for _, p := range masked {
		out += fmt.Sprintf("  %s: saved as %s (only root sees it); load refuses the file until it is set there\n", configtree.PathString(p), Masked)
	}
	return out, nil
}

// MaxLoadSize bounds what load reads: config.boot files are kilobytes.
const MaxLoadSize = 16 << 20

// load replaces the candidate with FILE (merge: merges FILE into it),
// after migrating it from whatever wrote it and keeping only what ctsync
// manages. A file that is not a config, or holds bad values, changes
// nothing; missing mandatory nodes are reported, for the operator to add
// before commit.
func (s *Session) load(args []string, merge bool) (string, error) {
	cmd := "load"
	if merge {
		cmd = "merge"
	}
	// "force" imports a file even when it holds failover settings ctsync
	// does not manage, dropping them (and listing what it dropped).
	force := len(args) == 2 && args[1] == "force"
	if force {
		args = args[:1]
	}
	if len(args) != 1 {
		return "", fmt.Errorf("%s: usage: %s FILE [force]", cmd, cmd)
	}
	file := s.resolveFile(args[0])
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("%s %s: %w; nothing was loaded", cmd, file, err)
	}
	data, err := s.fileAccess().ReadFile(file, MaxLoadSize)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail(err)
	}
	tree, rep, err := migrate.Load(data, s.schema)
	if err != nil {
		return fail(err)
	}
	if len(rep.Dropped) > 0 && !force {
		// Loaded without them, the pair would fail over differently from
		// the one the file describes: say so rather than import quietly.
		//lint:ignore ST1005 printed to the operator as is, a report ending in a sentence
		return "", fmt.Errorf("%s %s: it holds settings ctsync does not manage that change how the pair fails over:\n  %s\n`%s %s force` loads the rest without them. Nothing was loaded.",
			cmd, file, strings.Join(rep.Dropped, "\n  "), cmd, args[0])
	}
	if m := MaskedSecrets(tree); len(m) > 0 {
		var lines []string
		for _, p := range m {
			lines = append(lines, "  "+cfgerr.New(p, "%s stands where the secret was (the file was saved by a user who may not see it); set the secret in the file", Masked).Error())
		}
		//lint:ignore ST1005 printed to the operator as is, a report ending in a sentence
		return "", fmt.Errorf("%s %s: it holds masked secrets, which would become the secrets themselves:\n%s\nNothing was loaded.", cmd, file, strings.Join(lines, "\n"))
	}
	keepComments(tree, data)
	if len(tree.Children) == 0 {
		return fail(errors.New("holds nothing ctsync manages" + skippedSummary(rep)))
	}
	next := tree
	if merge {
		next = s.candidate.Clone()
		for _, p := range tree.Paths() {
			if err := s.schema.Set(next, p); err != nil {
				return fail(err)
			}
		}
		configtree.CopyComments(next, tree)
	}
	var b strings.Builder
	var bad []string
	for _, e := range cfgerr.List(s.schema.Validate(next)) {
		if errors.Is(e, schema.ErrRequired) {
			fmt.Fprintf(&b, "  to fix before commit: %s\n", e)
			continue
		}
		bad = append(bad, "  "+e.Error())
	}
	if len(bad) > 0 {
		//lint:ignore ST1005 printed to the operator as is, as the last line of the report
		return "", fmt.Errorf("%s %s:\n%s\nNothing was loaded.", cmd, file, strings.Join(bad, "\n"))
	}
	s.candidate = next
	var out strings.Builder
	for _, l := range rep.Lines() {
		out.WriteString("  " + l + "\n")
	}
	out.WriteString(b.String())
	verb := "Loaded %s into the candidate"
	if merge {
		verb = "Merged %s into the candidate"
	}
	fmt.Fprintf(&out, verb+"; review with compare, then commit.\n", file)
	return out.String(), nil
}

func skippedSummary(r *migrate.Report) string {
	if r == nil || len(r.Skipped) == 0 {
		return ""
	}
	return " (it holds only " + strings.Join(r.Skipped, ", ") + ")"
}

// resolveFile is the file a name given to save, load or merge means:
// clean, so that a spelling of config.boot's own path with "." or ".."
// in it is config.boot too, and written as such.
func (s *Session) resolveFile(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(s.root.ConfigDir(), name)
}
