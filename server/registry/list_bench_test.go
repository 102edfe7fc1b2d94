package registry

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// BenchmarkList lists 10 000 instances: whole (what an upstream client asks for), and page by
// page in pages of 1000 (what oo instance ls does), which reads each page from the ordered
// index instead of sorting the registry once per page.
func BenchmarkList(b *testing.B) {
	const n = 10000
	r, _ := newReg(b, Options{})
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Go(func() {
			for i := c; i < n; i += 32 {
				if _, err := r.Register(admin, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.1.%d.%d:%d", i/250%250, i%250+1, 10000+i%7), Slug: fmt.Sprintf("svc-%d", i%100)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			if got := len(r.List(Filter{})); got != n {
				b.Fatalf("%d listed", got)
			}
		}
	})
	b.Run("pages=1000", func(b *testing.B) {
		for b.Loop() {
			got, cursor := 0, ""
			for {
				page, next, err := r.ListPage(Filter{}, Page{Limit: 1000, Cursor: cursor})
				if err != nil {
					b.Fatal(err)
				}
				got += len(page)
				if next == "" {
					break
				}
				cursor = next
			}
			if got != n {
				b.Fatalf("%d listed", got)
			}
		}
	})
	b.Run("slug", func(b *testing.B) {
		for b.Loop() {
			if got := len(r.List(Filter{Slug: "svc-42"})); got != n/100 {
				b.Fatalf("%d listed", got)
			}
		}
	})
}
