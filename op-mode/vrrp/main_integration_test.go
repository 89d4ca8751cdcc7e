//go:build integration

package vrrp

import (
	"testing"

	"github.com/ctsync/ctsync/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m) }
