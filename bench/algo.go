package bench

import (
	"os"

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
