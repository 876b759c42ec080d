// Command chorus is Chorus's command-line tool. Its subcommands:
//
//	chorus run    launch the ranks of a job on this node (a local launcher, like torchrun)
//	chorus bench  measure collectives and print the nccl-tests table
//	chorus topo   print the hosts, ranks, transports, ring and tree of a job
//	chorus help   print the usage
//
// Each is a function of (context, arguments, stdout, stderr) that returns the exit status, so
// that tests call it without a process.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitUsage is the exit status of a command-line mistake.
const exitUsage = 2

// subcommand is one `chorus <name>` command.
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// subcommands lists the subcommands in the order the usage shows them.
var subcommands = []subcommand{
	{"run", "launch the ranks of a job on this node (chorus run -h for its flags)", runCmd},
	{"bench", "measure collectives, nccl-tests style (chorus bench -h for its flags)", benchCmd},
	{"topo", "print the hosts, ranks, transports, ring and tree of a job (chorus topo -h)", topoCmd},
}

// signalError is the cause of the context that main cancels when the process gets a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received signal " + e.sig.String() }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// Later signals are caught and ignored: the launcher is already stopping its children
		// and must live to wait for them.
		cancel(signalError{<-sigs})
	}()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0] and returns the exit status.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range subcommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "chorus: unknown subcommand %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// usage prints the list of subcommands to w.
func usage(w io.Writer) {
	fmt.Fprintln(w, "Chorus: collective communication for Go.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: chorus <subcommand> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Subcommands:")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-6s %s\n", "help", "print this message")
}
