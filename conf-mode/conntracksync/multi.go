package conntracksync

import "slices"

// leafLists are the leaf-lists of `service conntrack-sync`, relative to
// it. They stand in for the schema until it can be asked.
var leafLists = [][]string{
	{"accept-protocol"}, {"expect-sync"}, {"ignore-address"}, {"listen-address"},
}

func defaultMulti(p []string) bool {
	if len(p) < len(Owned) || !slices.Equal(p[:len(Owned)], Owned) {
		return false
	}
	rel := p[len(Owned):]
	for _, l := range leafLists {
		if slices.Equal(rel, l) {
			return true
		}
	}
	return false
}
