package rendezvous

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Job is where this process stands in a job, as its launcher described it in the environment.
type Job struct {
	// Rank is this process's index in the job, 0..Size-1.
	Rank int
	// Size is the number of processes in the job.
	Size int
	// LocalRank is this process's index on its host; 0 when the launcher does not say.
	LocalRank int
	// LocalSize is the number of processes on this host; 0 when the launcher does not say.
	LocalSize int
	// Addr is the store: host:port (a TCP server), or a URL when CHORUS_RDZV holds one.
	Addr string
	// Secret is the job secret (the bytes of CHORUS_SECRET); empty means no authentication.
	Secret []byte
	// Serve says that no launcher serves the store, so rank 0 must: true when the address comes
	// from MASTER_ADDR and MASTER_PORT rather than CHORUS_RDZV.
	Serve bool
}

// URL returns the store's URL for Open: Addr itself when it has a scheme, else tcp://Addr.
func (j Job) URL() string {
	if strings.Contains(j.Addr, "://") {
		return j.Addr
	}
	return "tcp://" + j.Addr
}

// launcher names the variables one launcher sets; an empty name is one it does not set.
type launcher struct {
	name                             string
	rank, size, localRank, localSize string
}

// launchers in order of precedence.
var launchers = []launcher{
	{"chorus", "CHORUS_RANK", "CHORUS_SIZE", "CHORUS_LOCAL_RANK", "CHORUS_LOCAL_SIZE"},
	{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
	{"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", ""},
	{"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
}

// FromEnv reads the job from the environment through env (os.Getenv in production). The first
// launcher whose rank variable is set supplies rank, size and local rank and size; see the
// package documentation for the table. It fails on a missing, non-integer, negative or
// inconsistent value and on a missing store address.
func FromEnv(env func(string) string) (Job, error) {
	var j Job
	var l *launcher
	for i := range launchers {
		if env(launchers[i].rank) != "" {
			l = &launchers[i]
			break
		}
	}
	if l == nil {
		return Job{}, fmt.Errorf("rendezvous: no rank in the environment: set CHORUS_RANK and CHORUS_SIZE, or run under torchrun, Slurm or Open MPI")
	}
	var err error
	if j.Rank, err = envInt(env, l.rank, true); err != nil {
		return Job{}, err
	}
	if j.Size, err = envInt(env, l.size, true); err != nil {
		return Job{}, err
	}
	if j.LocalRank, err = envInt(env, l.localRank, false); err != nil {
		return Job{}, err
	}
	if j.LocalSize, err = envInt(env, l.localSize, false); err != nil {
		return Job{}, err
	}
	if j.Size == 0 {
		return Job{}, fmt.Errorf("rendezvous: %s=0: a job has at least one process", l.size)
	}
	if j.Rank >= j.Size {
		return Job{}, fmt.Errorf("rendezvous: %s=%d is not below %s=%d", l.rank, j.Rank, l.size, j.Size)
	}
	if j.LocalSize > j.Size {
		return Job{}, fmt.Errorf("rendezvous: %s=%d is above %s=%d", l.localSize, j.LocalSize, l.size, j.Size)
	}
	if j.LocalSize > 0 && j.LocalRank >= j.LocalSize {
		return Job{}, fmt.Errorf("rendezvous: %s=%d is not below %s=%d", l.localRank, j.LocalRank, l.localSize, j.LocalSize)
	}
	if j.Addr, j.Serve, err = envAddr(env); err != nil {
		return Job{}, err
	}
	j.Secret = []byte(env("CHORUS_SECRET"))
	return j, nil
}

// envInt reads a non-negative integer from the variable name; an unset optional variable is 0.
func envInt(env func(string) string, name string, required bool) (int, error) {
	if name == "" {
		return 0, nil
	}
	s := strings.TrimSpace(env(name))
	if s == "" {
		if required {
			return 0, fmt.Errorf("rendezvous: %s is not set", name)
		}
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("rendezvous: %s=%q is not an integer", name, s)
	}
	if n < 0 {
		return 0, fmt.Errorf("rendezvous: %s=%d is negative", name, n)
	}
	return n, nil
}

// envAddr reads the store address: CHORUS_RDZV, else MASTER_ADDR and MASTER_PORT+1, which rank
// 0 serves (serve is true then). MASTER_PORT itself is left to the launcher: under torchrun it
// is torch's own store.
func envAddr(env func(string) string) (addr string, serve bool, err error) {
	if a := strings.TrimSpace(env("CHORUS_RDZV")); a != "" {
		return a, false, nil
	}
	host, port := strings.TrimSpace(env("MASTER_ADDR")), strings.TrimSpace(env("MASTER_PORT"))
	if host == "" && port == "" {
		return "", false, fmt.Errorf("rendezvous: no store address: set CHORUS_RDZV, or MASTER_ADDR and MASTER_PORT")
	}
	if host == "" || port == "" {
		return "", false, fmt.Errorf("rendezvous: MASTER_ADDR=%q and MASTER_PORT=%q: both are needed", host, port)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65534 {
		return "", false, fmt.Errorf("rendezvous: MASTER_PORT=%q is not a port number below 65535 (Chorus's store takes the next one)", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), true, nil
}
