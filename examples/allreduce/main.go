// Command allreduce is the hello world of Chorus: it starts a group of ranks inside one process,
// has each contribute a vector, sums the vectors with AllReduce and prints every rank's result.
//
//	go run ./examples/allreduce -n 4      # 4 ranks inside this process
//	go run ./cmd/chorus run -n 4 -- go run ./examples/allreduce   # 4 processes over QUIC
//	go run ./examples/allreduce -algos    # list the algorithms of every collective
//	CHORUS_ALGO=allreduce=tree go run ./examples/allreduce -n 5
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/chorus-cc/chorus/comm"
)

func main() {
	n := flag.Int("n", 4, "number of ranks")
	count := flag.Int("count", 4, "elements per rank")
	list := flag.Bool("algos", false, "list the algorithms of every collective and exit")
	flag.Parse()
	if *list {
		all := comm.Algorithms()
		names := make([]string, 0, len(all))
		for coll := range all {
			names = append(names, coll)
		}
		sort.Strings(names)
		for _, coll := range names {
			fmt.Printf("%-14s %s\n", coll, strings.Join(all[coll], ", "))
		}
		return
	}
	run := runLocal
	if os.Getenv("CHORUS_RANK") != "" { // started by `chorus run`: this process is one rank
		run = func(_, count int) error { return runRank(count) }
	}
	if err := run(*n, *count); err != nil {
		log.SetFlags(0)
		log.Print(err)
		os.Exit(1)
	}
}

// runRank joins the job described by the environment and all-reduces one vector over QUIC.
func runRank(count int) error {
	ctx := context.Background()
	c, err := comm.InitFromEnv(ctx, comm.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	grads := make([]float32, count)
	for i := range grads {
		grads[i] = float32(c.Rank()*10 + i)
	}
	if err := c.AllReduce(ctx, comm.Of(grads), comm.Of(grads), comm.Sum); err != nil {
		return err
	}
	fmt.Printf("rank %d: %v\n", c.Rank(), grads)
	return nil // the deferred Close waits for the other ranks to finish
}

// runLocal runs n ranks as goroutines of this process.
func runLocal(n, count int) error {
	ctx := context.Background()
	comms, err := comm.NewLocal(ctx, n, comm.Config{})
	if err != nil {
		return err
	}
	results := make([][]float32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for _, c := range comms {
		wg.Add(1)
		go func() { // one goroutine per rank, as one process per rank would be
			defer wg.Done()
			r := c.Rank()
			grads := make([]float32, count)
			for i := range grads {
				grads[i] = float32(r*10 + i) // rank r contributes r*10+i
			}
			errs[r] = c.AllReduce(ctx, comm.Of(grads), comm.Of(grads), comm.Sum) // in place
			results[r] = grads
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	for r := range results {
		if errs[r] != nil {
			return fmt.Errorf("rank %d: %w", r, errs[r])
		}
		fmt.Printf("rank %d: %v\n", r, results[r])
	}
	return nil
}
