package registry

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTableWithMatchesMap applies random batches of changes (new slugs, new routes, removals,
// a slug twice in one batch) to a Table and to a plain map, and checks after each that the
// table answers every slug as the map does, counts them alike, and that every earlier table
// still answers as it did when it was published: with copies only what it changes.
func TestTableWithMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type snapshot struct {
		table *Table
		model map[string]*Route
	}
	var history []snapshot
	model := map[string]*Route{}
	table := &Table{}
	for range 300 {
		var changes []tableSlot
		for range 1 + rng.IntN(40) {
			slug := fmt.Sprintf("svc-%d", rng.IntN(3000))
			var rt *Route
			if rng.IntN(4) > 0 {
				rt = &Route{}
			}
			changes = append(changes, tableSlot{slug, rt})
		}
		for _, c := range changes { // the last route of a slug wins
			if c.route == nil {
				delete(model, c.slug)
			} else {
				model[c.slug] = c.route
			}
		}
		table = table.with(changes)
		snap := snapshot{table, map[string]*Route{}}
		for k, v := range model {
			snap.model[k] = v
		}
		history = append(history, snap)
	}
	for i, s := range history {
		if s.table.Len() != len(s.model) {
			t.Fatalf("table %d holds %d slugs, want %d", i, s.table.Len(), len(s.model))
		}
		for n := range 3000 {
			slug := fmt.Sprintf("svc-%d", n)
			if got, want := s.table.Lookup(slug), s.model[slug]; got != want {
				t.Fatalf("table %d: Lookup(%q) = %p, want %p", i, slug, got, want)
			}
		}
	}
}
