// Package schema holds the YANG modules that define ctsync's
// configuration. They are embedded in the binaries and parsed at run time
// by internal/schema, so the schema a router checks against is always the
// one it was built with.
package schema

import "embed"

// Files holds every *.yang module of the schema.
//
//go:embed *.yang
var Files embed.FS
