package strictjson

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestUnmarshal(t *testing.T) {
	type msg struct {
		A string `json:"a"`
	}
	for _, c := range []struct {
		in      string
		ok      bool
		trailer bool
	}{
		{in: `{"a":"x"}`, ok: true},
		{in: " {\"a\":\"x\"} \n\t", ok: true},
		{in: `{}`, ok: true},
		{in: `{}}`, trailer: true},
		{in: `{}]`, trailer: true},
		{in: `{} {}`, trailer: true},
		{in: `{}x`, trailer: true},
		{in: `{"a":"x"}"`, trailer: true},
		{in: `{"b":1}`},
		{in: `{"a":1}`},
		{in: ``},
		{in: `[]`},
	} {
		var m msg
		err := Unmarshal([]byte(c.in), &m)
		if (err == nil) != c.ok || errors.Is(err, ErrTrailing) != c.trailer {
			t.Errorf("Unmarshal(%q) = %v; want ok %v, trailing %v", c.in, err, c.ok, c.trailer)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"a":"x"}`))
	f.Add([]byte(`{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v map[string]any
		if Unmarshal(data, &v) != nil {
			return
		}
		// What is accepted is one JSON value and nothing more.
		var again map[string]any
		if err := json.Unmarshal(data, &again); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
	})
}
