// Package strictjson decodes a message that must be exactly one JSON
// value of a known shape: the control socket's requests, the pair
// channel's messages, the commit journal. An unknown field is an error
// (a writer newer than the reader must not have part of what it said
// silently ignored), and so is anything but white space after the value.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// ErrTrailing is data after the value.
var ErrTrailing = errors.New("data after the value")

// Unmarshal decodes data into v strictly.
func Unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More says whether an array or object goes on, so it misses a
	// stray "}" or "]" after the value; the next token must be the end.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailing
	}
	return nil
}
