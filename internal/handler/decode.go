package handler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mitchellh/mapstructure"

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
		msg := err.Error()
		// mapstructure lists its findings over several lines; the shell
		// shows one line per problem.
		var me *mapstructure.Error
		if errors.As(err, &me) {
			msg = strings.Join(me.Errors, "; ")
		}
		return false, &cfgerr.Error{Path: strings.Join(path, " "), Msg: "cannot decode: " + msg}
	}
	return true, nil
}
