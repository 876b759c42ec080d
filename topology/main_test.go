package topology

import (
	"fmt"
	"os"
	"testing"
)

// childEnv selects a child mode: the test binary, re-executed by a test, does one thing and exits.
const childEnv = "CHORUS_TOPOLOGY_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "local":
		// Print this process's encoded description as rank 3.
		p, err := Local(3)
		if err == nil {
			var b []byte
			if b, err = Encode(p); err == nil {
				_, err = os.Stdout.Write(b)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", os.Getenv(childEnv))
		os.Exit(2)
	}
}
