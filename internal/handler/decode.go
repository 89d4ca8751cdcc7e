package handler

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// Decode is GetConfig's common step: the subtree of tree at path, decoded
// into out (a pointer to the handler's typed config, with mapstructure tags
// named as the schema's nodes). multi tells which leaves are leaf-lists, by
// full path from the root, as schema.IsMulti does. It reports false when
// the subtree is absent.
//
// Decoding is strict: tree values are strings, so numbers are converted
// (a value that is not one fails rather than reaching a file), and a node
// the handler does not know is an error rather than silently left out of
// the generated file.
func Decode(tree *configtree.Node, path []string, multi func([]string) bool, out any) (bool, error) {
	node := tree.Get(path...)
	if node == nil {
		return false, nil
	}
	// ToMap hands multi paths relative to the node it runs on.
	rel := func(p []string) bool { return multi(append(slices.Clone(path), p...)) }
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
	})
	if err != nil {
		return false, fmt.Errorf("building decoder: %w", err)
	}
	if err := dec.Decode(node.ToMap(rel)); err != nil {
		return false, &cfgerr.Error{Path: slices.Clone(path), Msg: "cannot decode: " + decodeMessage(err, reflect.TypeOf(out).Elem().String())}
	}
	return true, nil
}

// decodeMessage puts mapstructure's findings, which it joins over several
// lines under a heading, on one line: the shell shows one line per
// problem. A finding about the subtree itself is named ” (as the path
// already says where it is), not by the Go type it decodes into.
func decodeMessage(err error, root string) string {
	var msgs []string
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		switch {
		case errors.As(e, &de) && de.Unwrap() != nil:
			name := de.Name()
			if name == root {
				name = ""
			}
			msgs = append(msgs, fmt.Sprintf("'%s' %v", name, de.Unwrap()))
		default:
			if j, ok := e.(interface{ Unwrap() []error }); ok {
				for _, x := range j.Unwrap() {
					walk(x)
				}
				return
			}
			if u := errors.Unwrap(e); u != nil {
				walk(u)
				return
			}
			msgs = append(msgs, e.Error())
		}
	}
	walk(err)
	return strings.Join(msgs, "; ")
}
