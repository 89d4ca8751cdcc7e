//go:build integration

package conntrack

import (
	"testing"

	"github.com/ctsync/ctsync/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m) }
