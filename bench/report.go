package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// ReportVersion is the version of the JSON form of Report; it changes when a field changes
// meaning.
const ReportVersion = 1

// Report is a whole run in the form --json writes and --compare reads: the machine, the
// configuration, the ranks, and one Record per row.
type Report struct {
	Version  int        `json:"version"`
	Command  string     `json:"command,omitempty"` // the command line, for people
	Start    time.Time  `json:"start"`
	Seconds  float64    `json:"seconds"` // the run's wall time
	Machine  Machine    `json:"machine"`
	Config   Config     `json:"config"`
	Ranks    []RankInfo `json:"ranks,omitempty"`
	Rows     []Record   `json:"rows"`
	AvgBusBW float64    `json:"avg_busbw"` // GB/s, as the table's footer
	Wrong    int64      `json:"wrong"`     // wrong values over every row; 0 when not checked
	Notes    []string   `json:"notes,omitempty"`
}

// Machine describes the machine of rank 0.
type Machine struct {
	Host   string `json:"host"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu,omitempty"` // model name, where the system says
	Memory int64  `json:"memory,omitempty"`
	Go     string `json:"go"`
}

// Config is the JSON form of Options.
type Config struct {
	Collectives []string          `json:"collectives"`
	Ranks       int               `json:"ranks"`
	Transport   string            `json:"transport"`
	Algorithms  map[string]string `json:"algorithms,omitempty"`
	MinBytes    int64             `json:"min_bytes"`
	MaxBytes    int64             `json:"max_bytes"`
	StepFactor  int64             `json:"step_factor,omitempty"`
	StepBytes   int64             `json:"step_bytes,omitempty"`
	Iters       int               `json:"iters"`
	Warmup      int               `json:"warmup"`
	Check       bool              `json:"check"`
	Types       []string          `json:"types"`
	Ops         []string          `json:"ops"`
	Root        int               `json:"root"`
	Aggregate   string            `json:"aggregate"`
	Shared      bool              `json:"shared_buffers,omitempty"`
}

// Record is the JSON form of a Row.
type Record struct {
	Collective string `json:"collective"`
	Size       int64  `json:"size"`
	Count      int    `json:"count"`
	Type       string `json:"type"`
	Op         string `json:"redop"`
	Root       int    `json:"root"`
	Ranks      int    `json:"ranks"`
	Algorithm  string `json:"algorithm"`
	Transport  string `json:"transport"`
	OutOfPlace *Place `json:"out_of_place"` // null when skipped
	InPlace    *Place `json:"in_place"`     // null when skipped
}

// Place is the JSON form of a Result.
type Place struct {
	Time   float64 `json:"time_us"`
	AlgBW  float64 `json:"algbw"`      // GB/s
	BusBW  float64 `json:"busbw"`      // GB/s
	Wrong  *int64  `json:"wrong"`      // null when not checked
	P50    float64 `json:"p50_us"`     // per-iteration median
	P99    float64 `json:"p99_us"`     // per-iteration 99th percentile
	Spread float64 `json:"spread_pct"` // (slowest - fastest) / median, in percent
}

// ConfigOf returns the JSON form of o for a run over ranks ranks.
func ConfigOf(o Options, ranks int) Config {
	cfg := Config{
		Ranks: ranks, Transport: o.Transport, Algorithms: algoSpec(o.Algorithms),
		MinBytes: o.MinBytes, MaxBytes: o.MaxBytes, Iters: o.Iters, Warmup: o.Warmup, Check: o.Check,
		Root: o.Root, Aggregate: o.Aggregate.String(), Shared: o.Shared,
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = nil
	}
	if o.StepBytes > 0 {
		cfg.StepBytes = o.StepBytes
	} else {
		cfg.StepFactor = o.StepFactor
	}
	for _, c := range o.Collectives {
		cfg.Collectives = append(cfg.Collectives, c.String())
	}
	for _, dt := range o.types() {
		cfg.Types = append(cfg.Types, TypeName(dt))
	}
	for _, op := range o.opsFor(AllReduce) {
		cfg.Ops = append(cfg.Ops, OpName(op))
	}
	return cfg
}

// RecordOf returns the JSON form of r.
func RecordOf(r Row) Record {
	return Record{
		Collective: r.Collective.String(), Size: r.Size, Count: r.Count, Type: TypeName(r.Type),
		Op: OpName(r.Op), Root: r.Root, Ranks: r.Ranks, Algorithm: r.Algorithm, Transport: r.Transport,
		OutOfPlace: placeOf(r.OutOfPlace), InPlace: placeOf(r.InPlace),
	}
}

func placeOf(res Result) *Place {
	if res.Skipped {
		return nil
	}
	p := &Place{Time: nan0(res.Time), AlgBW: nan0(res.AlgBW), BusBW: nan0(res.BusBW),
		P50: nan0(res.P50), P99: nan0(res.P99), Spread: nan0(res.Spread)}
	if res.Wrong >= 0 {
		w := res.Wrong
		p.Wrong = &w
	}
	return p
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	host, _ := os.Hostname()
	m := Machine{Host: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	m.CPU, m.Memory = procInfo()
	return m
}

// procInfo reads the CPU model and the memory size from /proc, where there is one.
func procInfo() (cpu string, memory int64) {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			var kb int64
			if _, err := fmt.Sscanf(s.Text(), "MemTotal: %d kB", &kb); err == nil {
				memory = kb << 10
				break
			}
		}
		f.Close()
	}
	return cpu, memory
}

// WriteJSON writes rep as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// ReadJSON reads a Report written by WriteJSON. It fails on malformed JSON and on a version
// it does not know.
func ReadJSON(r io.Reader) (*Report, error) {
	dec := json.NewDecoder(r)
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("bench: reading a report: %w", err)
	}
	if rep.Version != ReportVersion {
		return nil, fmt.Errorf("bench: report version %d, this chorus reads version %d", rep.Version, ReportVersion)
	}
	return &rep, nil
}

// ReadJSONFile reads the Report in the file at path.
func ReadJSONFile(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	rep, err := ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}
