package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// python is Debian's interpreter, the one python3-torch installs torch for (the python3 first
// on PATH may be another).
const python = "/usr/bin/python3"

// ensureTorch makes sure python can import torch, installing Debian's python3-torch with
// apt-get when it cannot and this process is root; it skips, saying why, when it cannot.
func ensureTorch(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s is not installed: the PyTorch backend is tested with Debian's python3", python)
	}
	if exec.Command(python, "-c", "import torch").Run() == nil {
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("torch is not installed for " + python + " and installing it needs root: apt-get install -y python3-torch")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("torch is not installed for " + python + " and there is no apt-get to install python3-torch")
	}
	start := time.Now()
	out, err := aptInstall("python3-torch")
	require.NoError(t, err, "apt-get install -y python3-torch:\n%s", out)
	t.Logf("installed python3-torch in %v", time.Since(start).Round(time.Second))
	out, err = exec.Command(python, "-c", "import torch").CombinedOutput()
	require.NoError(t, err, "import torch after installing python3-torch:\n%s", out)
}

// TestPyTorchBackend runs python/tests (the "chorus" torch.distributed backend: every
// collective and dtype, DDP against gloo at 2 and 4 ranks, Ctrl-C, the example under torchrun and
// under chorus run's environment) against the library built here.
func TestPyTorchBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("the PyTorch tests (half a minute, plus installing python3-torch once) run without -short")
	}
	ensureTorch(t)
	lib := library(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tests, err := filepath.Abs(filepath.Join("..", "python", "tests"))
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "discover", "-s", tests, "-v")
	cmd.Env = append(os.Environ(), "CHORUS_LIBRARY="+lib, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "python tests:\n%s", out)
	text := string(out)
	require.Regexp(t, `(?m)^OK$`, text, "python tests:\n%s", out)
	require.NotContains(t, text, "skipped", "a python test skipped:\n%s", out)
	ran := regexp.MustCompile(`Ran (\d+) tests?`).FindStringSubmatch(text)
	require.NotNil(t, ran, "%s", out)
	require.Equal(t, "5", ran[1], "python tests run")
	for _, line := range regexp.MustCompile(`(?m)^DDP .*$`).FindAllString(text, -1) {
		t.Log(line)
	}
}
