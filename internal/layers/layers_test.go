package layers

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/chorus-cc/chorus"

type pkg struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // every package it depends on
}

// packages lists the module's packages with their imports and dependencies.
func packages(t *testing.T) []pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; the import rules are checked where it is")
	}
	cmd := exec.Command(goTool, "list", "-json", module+"/...")
	out, err := cmd.Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestImportRules(t *testing.T) {
	rules := []struct {
		pkg       string   // the rule holds for this package and those below it ...
		except    []string // ... but not these
		forbidden []string // which may not depend on these (or anything below them)
	}{
		{pkg: module + "/algos", except: []string{module + "/algos/simulate"},
			forbidden: []string{"net", "time", "os", "math/rand", module + "/transport", module + "/comm"}},
		{pkg: module + "/algos/simulate", forbidden: []string{"net", "time", module + "/transport", module + "/comm"}},
		{pkg: module + "/transport", forbidden: []string{module + "/algos", module + "/comm"}},
		{pkg: module + "/algos/plan", forbidden: []string{module + "/algos/reduce"}},
		{pkg: module + "/topology", forbidden: []string{module + "/transport", module + "/algos", module + "/comm"}},
	}
	checked := 0
	for _, p := range packages(t) {
		for _, r := range rules {
			if !under(p.ImportPath, r.pkg) {
				continue
			}
			skip := false
			for _, e := range r.except {
				skip = skip || under(p.ImportPath, e)
			}
			if skip {
				continue
			}
			checked++
			// Standard packages are checked among direct imports (fmt itself pulls in os and time);
			// the module's own packages among all dependencies.
			deps := append(append([]string{}, p.Imports...), p.Deps...)
			for _, d := range deps {
				for _, f := range r.forbidden {
					if !strings.HasPrefix(f, module) && !contains(p.Imports, d) {
						continue
					}
					require.False(t, under(d, f), "%s depends on %s, which the design forbids", p.ImportPath, d)
				}
			}
		}
	}
	require.NotZero(t, checked)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
