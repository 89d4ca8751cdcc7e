//go:build integration

package transition_test

import (
	"testing"

	"github.com/ctsync/ctsync/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m) }
