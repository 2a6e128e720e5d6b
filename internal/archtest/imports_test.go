package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/orderflow/orderflow"

// The floors of ARCHITECTURE.md, lowest first: a package imports its own floor or lower ones.
const (
	platform = iota // contracts (schemas/) and platform (internal/)
	kernel          // processors/kernel/: the processor framework and topic names
	services        // processors/<one each>, the order service, connectors/
	pipeline        // pipelines/: the assembled pipeline and its operations
	entry           // cmd/: flags and calls
	testkit         // helpers that only _test.go files import
)

var floorNames = [...]string{"contracts+platform", "kernel", "services", "pipeline", "entry points", "testkit"}

// floors maps a path inside the module to its floor; a package takes the floor of its longest
// listed prefix, and a package without one fails the test (place it, here and in ARCHITECTURE.md).
var floors = map[string]int{
	"schemas":                    platform,
	"internal":                   platform,
	"internal/testkit":           testkit,
	"internal/archtest":          entry,
	"processors/kernel":          kernel,
	"processors/kernel/proctest": testkit,
	"processors":                 services,
	"connectors":                 services,
	"pipelines":                  pipeline,
	"cmd":                        entry,
	"compose":                    entry,
}

func floorOf(importPath string) (int, bool) {
	p := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	for p != "" {
		if f, ok := floors[p]; ok {
			return f, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0, false
}

// processorOf names the service a package under processors/ belongs to ("" for the kernel and
// for packages elsewhere): processors/payments and processors/payments/x are both "payments".
func processorOf(importPath string) string {
	rest, ok := strings.CutPrefix(importPath, module+"/processors/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == "kernel" {
		return ""
	}
	return name
}

type listed struct {
	ImportPath string
	Imports    []string
}

func goList(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func packages(t *testing.T) []listed {
	out := goList(t, "list", "-json=ImportPath,Imports", module+"/...")
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs
		}
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
}

// TestImportsPointDown: no package imports a higher floor, no production package imports a test
// kit, and no processor imports another (processors talk through topics).
func TestImportsPointDown(t *testing.T) {
	for _, p := range packages(t) {
		from, ok := floorOf(p.ImportPath)
		if !ok {
			t.Errorf("%s has no floor: place it in floors and in ARCHITECTURE.md", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to, ok := floorOf(imp)
			switch {
			case !ok:
				// reported where imp itself is listed
			case to == testkit && from != testkit:
				t.Errorf("%s imports the test kit %s outside a _test.go file", p.ImportPath, imp)
			case to != testkit && from != testkit && to > from:
				t.Errorf("%s (%s) imports %s (%s): imports point down", p.ImportPath, floorNames[from], imp, floorNames[to])
			case from == testkit && to >= pipeline:
				t.Errorf("test kit %s imports %s (%s): a test kit stands on the services at most", p.ImportPath, imp, floorNames[to])
			}
			if a, b := processorOf(p.ImportPath), processorOf(imp); a != "" && b != "" && a != b {
				t.Errorf("processor %s imports processor %s: processors talk through topics", a, b)
			}
		}
	}
}

// TestProductLeavesOutTheBench: the product binary links neither the benchmark harness nor its
// plotting and profile-analysis libraries.
func TestProductLeavesOutTheBench(t *testing.T) {
	for _, dep := range strings.Fields(string(goList(t, "list", "-deps", module+"/cmd/orderflow"))) {
		if strings.HasPrefix(dep, "gonum.org/") || strings.HasPrefix(dep, "github.com/google/pprof/") ||
			strings.HasPrefix(dep, module+"/cmd/orderflow-bench") {
			t.Errorf("cmd/orderflow links %s (it belongs to cmd/orderflow-bench)", dep)
		}
	}
}
