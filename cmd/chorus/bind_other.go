//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// usableCPUs fails: binding needs Linux's sched_setaffinity.
func usableCPUs() ([]int, error) { return nil, errors.New("binding ranks to CPUs needs Linux") }

// startOn is never called where usableCPUs fails.
func startOn(cmd *exec.Cmd, _ int) error { return cmd.Start() }
