package handler_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
)

// A handler whose subtree the schema does not have has no priority: it
// is refused when it registers, not sorted somewhere.
func TestRegisterRefusesSubtreeNotInSchema(t *testing.T) {
	f := &handlertest.Fake{HName: "nowhere", HOwns: []string{"service", "no-such-thing"}}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "not in the schema") {
			t.Fatalf("Register = %v, want a panic naming the schema", r)
		}
		for _, h := range handler.All() {
			if h.Name() == "nowhere" {
				t.Error("the refused handler was registered")
			}
		}
	}()
	handler.Register(f)
}

// The Runner hands each step the handler's own state: absent for a
// subtree that is not there, Verify skipped for it, and the state Plan
// made back to Generate and Apply.
func TestRunnerCarriesState(t *testing.T) {
	log := &handlertest.CallLog{}
	f := &handlertest.Fake{HName: "vrrp", HOwns: []string{"high-availability", "vrrp"},
		HReads: [][]string{{"high-availability", "vrrp"}}, File: "/x/keepalived.conf", Log: log}
	r := handler.Adapt(f)
	ctx := context.Background()

	absent, err := r.Plan(ctx, handlertest.Tree(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Prechecks(absent) || r.Prechecks(nil) {
		t.Error("Prechecks of an absent state")
	}
	present, err := r.Plan(ctx, handlertest.Tree(t, "high-availability vrrp group wan vrid 1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Prechecks(present) {
		t.Error("no Precheck of a present state")
	}
	files, err := r.Generate(present, nil)
	if err != nil || len(files) != 1 || !strings.Contains(string(files[0].Data), "vrid 1") {
		t.Fatalf("Generate = %+v, %v", files, err)
	}
	if files, err := r.Generate(nil, nil); err != nil || len(files) != 1 || files[0].Data != nil {
		t.Fatalf("Generate(nil) = %+v, %v; want the file removed", files, err)
	}
	if msg, err := r.Apply(ctx, absent, present, nil); err != nil || msg != "start" {
		t.Errorf("Apply(absent, present) = %q, %v", msg, err)
	}
	if msg, err := r.Apply(ctx, present, nil, nil); err != nil || msg != "stop" {
		t.Errorf("Apply(present, nil) = %q, %v", msg, err)
	}
	if got := strings.Join(log.Take(), ", "); got != "vrrp verify, vrrp apply start, vrrp apply stop" {
		t.Errorf("calls: %s", got)
	}
}

// A state of another handler's type is refused, not read as absent.
func TestRunnerRefusesAnotherHandlersState(t *testing.T) {
	r := handler.Adapt(&handlertest.Fake{HName: "x", HOwns: []string{"service"}})
	wrong := handler.Present(1, handler.NoFacts{})
	if _, err := r.Apply(context.Background(), nil, wrong, nil); err == nil {
		t.Error("Apply took another handler's state")
	}
	if _, err := r.Generate(wrong, nil); err == nil {
		t.Error("Generate took another handler's state")
	}
}
