package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/opcmd"
)

// TestCompletionKnowsEveryCommand: the bash completion's word lists are
// static, so this checks them against the op-mode registry: every word of
// every registered command is offered where it may be typed.
func TestCompletionKnowsEveryCommand(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for _, c := range opcmd.All() {
		for i := range c.Path {
			line := strings.Join(append([]string{"ctsync"}, c.Path[:i]...), " ") + " "
			script := `. ../../debian/ctsync.bash-completion
read -r -a COMP_WORDS <<<"$1"; COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
_ctsync ctsync "" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"`
			out, err := exec.Command("bash", "-c", script, "bash", line).Output()
			if err != nil {
				t.Fatalf("completing %q: %v", line, err)
			}
			if !slices.Contains(strings.Fields(string(out)), c.Path[i]) {
				t.Errorf("completion of %q offers %q, not %q (of %q)", line, strings.Fields(string(out)), c.Path[i], strings.Join(c.Path, " "))
			}
		}
	}
}
