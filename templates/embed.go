// Package templates holds the engine config templates (text/template),
// embedded into the binary so a generated file never depends on what is
// installed beside it. Each conf-mode handler parses the file it needs by
// name from Files.
package templates

import "embed"

// Files holds every *.tmpl in this folder.
//
//go:embed *.tmpl
var Files embed.FS
