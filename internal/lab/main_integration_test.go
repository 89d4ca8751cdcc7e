//go:build integration

package lab

import (
	"testing"

	"github.com/ctsync/ctsync/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m) }
