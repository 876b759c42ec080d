package bench

import (
	"os"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/comm"
)

// planColl returns the collective of package plan that c runs, or 0 for sendrecv.
func planColl(c Collective) plan.Collective {
	switch c {
	case AllReduce:
		return plan.AllReduce
	case AllGather:
		return plan.AllGather
	case ReduceScatter:
		return plan.ReduceScatter
	case Broadcast:
		return plan.Broadcast
	case Reduce:
		return plan.Reduce
	case AllToAll:
		return plan.AllToAll
	case Gather:
		return plan.Gather
	case Scatter:
		return plan.Scatter
	}
	return 0
}

// algoSpec returns the algorithm choice that a communicator made with Config.Algorithms = spec
// uses: spec, or CHORUS_ALGO when spec is nil (nil when that does not parse; the communicator
// would have refused it).
func algoSpec(spec map[string]string) map[string]string {
	if spec != nil {
		return spec
	}
	env, err := comm.ParseAlgorithms(os.Getenv("CHORUS_ALGO"))
	if err != nil {
		return nil
	}
	return env
}

// algorithmName returns the name of the algorithm the communicator runs req with: the one
// spec names for the collective (or for every collective, "*"), else the one the cost model
// picks, as comm does. Point-to-point sends have no algorithm: "p2p".
func algorithmName(spec map[string]string, req plan.Request) string {
	if req.Coll == 0 {
		return "p2p"
	}
	if name, ok := spec[req.Coll.String()]; ok {
		return name
	}
	if name, ok := spec["*"]; ok {
		if _, err := algos.Lookup(req.Coll, name); err == nil {
			return name
		}
	}
	a, err := algos.Select(req, algos.Model{})
	if err != nil {
		return "?"
	}
	return a.Name()
}
