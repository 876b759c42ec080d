package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/topology"
)

// topoUsage is the synopsis of chorus topo.
const topoUsage = `Usage: chorus topo [-N K] [--json]

Prints the system a job runs on: its hosts, the ranks on each (CPUs, NUMA nodes),
the transport between each pair of ranks, and the ring and tree the collectives
follow. With -N K it starts K ranks on this node itself (through the launcher, as
chorus run -n K would); under chorus run, torchrun or Slurm it joins the job of the
environment and rank 0 prints; alone, it describes this process as a job of one.
CHORUS_HOST_ID makes a rank pretend to be on another host; CHORUS_TRANSPORT forces
one transport (quic or shm) for every pair.

Flags:
`

// topoEnv is what chorus topo takes from its process, replaceable in tests.
type topoEnv struct {
	getenv  func(string) string
	environ []string
	exe     func() (string, error)
}

// topoCmd is `chorus topo`.
func topoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return topoMain(ctx, args, topoEnv{getenv: os.Getenv, environ: os.Environ(), exe: os.Executable}, stdout, stderr)
}

func topoMain(ctx context.Context, args []string, env topoEnv, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chorus topo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nprocs := fs.Int("N", 0, "start K ranks on this node and print their system")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	usage := func(err error) int {
		if err != nil {
			fmt.Fprintf(stderr, "chorus topo: %v\n\n", err)
		}
		fmt.Fprint(stderr, topoUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, topoUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		return usage(err)
	}
	inJob := jobInEnv(env.getenv)
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case *nprocs < 0 || (*nprocs == 0 && isSet(fs, "N")):
		return usage(fmt.Errorf("-N must be at least 1, not %d", *nprocs))
	case *nprocs > 0 && inJob:
		return usage(fmt.Errorf("-N starts its own ranks: leave it out under a launcher (the environment has a rank)"))
	}
	print := func(sys *topology.System) int {
		if *asJSON {
			b, err := json.MarshalIndent(sys, "", "  ")
			if err == nil {
				_, err = fmt.Fprintf(stdout, "%s\n", b)
			}
			if err != nil {
				fmt.Fprintf(stderr, "chorus topo: %v\n", err)
				return 1
			}
			return 0
		}
		if err := sys.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "chorus topo: %v\n", err)
			return 1
		}
		return 0
	}
	switch {
	case *nprocs > 0:
		exe, err := env.exe()
		if err != nil {
			fmt.Fprintf(stderr, "chorus topo: finding this program to start its ranks: %v\n", err)
			return 1
		}
		rc := runConfig{nprocs: *nprocs, nnodes: 1, grace: defaultGrace, argv: append([]string{exe, "topo"}, withoutN(args)...)}
		return launch(ctx, rc, env.environ, &rankLines{w: stdout, strip: true}, &rankLines{w: stderr})
	case inJob:
		c, err := comm.InitFromEnv(ctx, comm.Config{})
		if err != nil {
			fmt.Fprintf(stderr, "chorus topo: %v\n", err)
			return 1
		}
		code := 0
		if c.Rank() == 0 {
			code = print(c.System())
		}
		if err := c.Close(); err != nil && code == 0 {
			fmt.Fprintf(stderr, "chorus topo: %v\n", err)
			code = 1
		}
		return code
	}
	self, err := topology.Local(0)
	if err != nil {
		fmt.Fprintf(stderr, "chorus topo: %v\n", err)
		return 1
	}
	sys, err := topology.Build([]topology.Peer{self}, topology.Options{Transport: env.getenv("CHORUS_TRANSPORT")})
	if err != nil {
		fmt.Fprintf(stderr, "chorus topo: %v\n", err)
		return 1
	}
	return print(sys)
}

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
