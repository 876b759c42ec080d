// Package algos holds the collective algorithms of Chorus. Each algorithm is a pure function from a
// plan.Request to a plan.Schedule: no goroutines, no time, no I/O. A registry lists them by
// collective and name, and a cost model (cost.go) picks one per request.
package algos

import (
	"fmt"
	"sort"
	"sync"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Algorithm builds schedules for one collective.
type Algorithm interface {
	// Name is the algorithm's name, unique for its collective, such as "ring".
	Name() string
	// Coll is the collective the algorithm implements.
	Coll() plan.Collective
	// Build returns the schedule for req. req.Coll equals Coll() and req is valid.
	Build(req plan.Request) (*plan.Schedule, error)
	// Cost estimates the time of req, in seconds, under the model m; +Inf when the algorithm
	// cannot run req, or when it would build the schedule of another algorithm for req and
	// leaves the request to that one (as "hierarchical" does to "ring" on one host).
	Cost(req plan.Request, m Model) float64
}

var (
	regMu sync.RWMutex
	reg   = map[plan.Collective]map[string]Algorithm{}
)

// Register adds an algorithm to the registry. It panics when another algorithm with the same
// collective and name is registered already. Algorithms register themselves in init functions.
func Register(a Algorithm) {
	regMu.Lock()
	defer regMu.Unlock()
	m := reg[a.Coll()]
	if m == nil {
		m = map[string]Algorithm{}
		reg[a.Coll()] = m
	}
	if _, dup := m[a.Name()]; dup {
		panic(fmt.Sprintf("algos: %s algorithm %q registered twice", a.Coll(), a.Name()))
	}
	m[a.Name()] = a
}

// Lookup returns the algorithm of collective c called name.
func Lookup(c plan.Collective, name string) (Algorithm, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	if a, ok := reg[c][name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("algos: no %s algorithm %q (have %v)", c, name, namesLocked(c))
}

// List returns the algorithms of collective c sorted by name; with c zero, those of every
// collective sorted by collective, then name.
func List(c plan.Collective) []Algorithm {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []Algorithm
	for coll, m := range reg {
		if c != 0 && coll != c {
			continue
		}
		for _, a := range m {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Coll() != out[j].Coll() {
			return out[i].Coll() < out[j].Coll()
		}
		return out[i].Name() < out[j].Name()
	})
	return out
}

func namesLocked(c plan.Collective) []string {
	var names []string
	for n := range reg[c] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
