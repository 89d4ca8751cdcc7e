package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

// TestMain makes the test binary the ctsync command for the transcript
// scripts: `exec ctsync ...` in a script runs main's run.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ctsync": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestShellTranscripts runs the config shell's transcripts in
// testdata/shell: each script talks to a real ctsyncd service (the
// configd server with the real commit engine and schema) whose handlers
// are fakes writing their generated file, so no engine is needed.
// -update rewrites the scripts' expected output.
func TestShellTranscripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           golden.Dir("shell"),
		UpdateScripts: golden.Update(),
		Setup: func(e *testscript.Env) error {
			root, stop, err := startService(filepath.Join(e.WorkDir, "root"))
			if err != nil {
				return err
			}
			e.Defer(stop)
			e.Setenv("CTSYNC_ROOT", root.Dir)
			e.Setenv("ROOT", root.Dir)
			// History and the like belong to the operator, never the root.
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			return nil
		},
	})
}

// startService serves ctsyncd's control socket under dir from this
// process: the configd server with the real commit engine and schema,
// and fake handlers that only write their generated file, so no engine
// runs. stop ends it.
func startService(dir string) (paths.Root, func(), error) {
	root := paths.Root{Dir: dir}
	for _, d := range []string{root.RunDir(), root.ConfigDir(), root.EtcDir(), root.StateDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return root, nil, err
		}
	}
	ct, vrrp := handlertest.Pair(root, nil)
	eng := commit.New(commit.Options{
		Schema:   schema.Default(),
		Handlers: handlertest.Runners(vrrp, ct),
		Env:      &handler.Env{Root: root},
		LockPath: root.CommitLock(),
	})
	srv := &configd.Server{Root: root, Schema: schema.Default(), Engine: eng, Log: zap.NewNop()}
	if err := srv.Boot(context.Background()); err != nil {
		return root, nil, err
	}
	ln, err := srv.Listen()
	if err != nil {
		return root, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
	}()
	return root, func() {
		cancel()
		<-done
		srv.Close()
	}, nil
}
