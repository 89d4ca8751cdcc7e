package migrate

import (
	"bytes"

	"github.com/ctsync/ctsync/internal/configtree"
)

// Format is the file save writes for t: config.boot with today's
// version footer, which lets a later release (Load) migrate it.
func Format(t *configtree.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := (&configtree.File{Root: t, Footer: Footer()}).Format(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
