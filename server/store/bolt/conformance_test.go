package bolt_test

import (
	"testing"

	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, _ := openTemp(t)
		return st
	})
}
