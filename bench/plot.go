package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a plot: bus bandwidth against size.
type Series struct {
	Name   string
	Points []Point
}

// Point is one point of a Series.
type Point struct {
	Size  int64   // bytes
	BusBW float64 // GB/s
}

// PlotFormats are the file name extensions Plot writes.
var PlotFormats = []string{".png", ".svg", ".pdf"}

// CheckPlotPath reports whether Plot can write a file named path (by its extension), so that
// a command can refuse a bad name before it runs anything.
func CheckPlotPath(path string) error {
	ext := strings.ToLower(filepath.Ext(path))
	for _, f := range PlotFormats {
		if ext == f {
			return nil
		}
	}
	return fmt.Errorf("%w: plot file %q: the name must end in %s", ErrOptions, path, strings.Join(PlotFormats, ", "))
}

// SeriesOf returns the lines of records: one per operation, and per element type, reduction op
// or root where the records hold several. Each point is a row's out-of-place bus bandwidth (the
// in-place one where out of place was skipped); rows of size 0, which a logarithmic axis cannot
// show, are left out. prefix, when not empty, starts every name ("A: allreduce").
func SeriesOf(prefix string, recs []Record) []Series {
	types, ops, roots := map[string]bool{}, map[string]bool{}, map[int]bool{}
	for _, r := range recs {
		types[r.Type] = true
		if r.Op != "none" {
			ops[r.Op] = true
		}
		if r.Root >= 0 {
			roots[r.Root] = true
		}
	}
	var out []Series
	index := map[string]int{}
	for _, r := range recs {
		name := r.Collective
		if len(types) > 1 {
			name += " " + r.Type
		}
		if len(ops) > 1 && r.Op != "none" {
			name += " " + r.Op
		}
		if len(roots) > 1 && r.Root >= 0 {
			name += fmt.Sprintf(" root %d", r.Root)
		}
		if prefix != "" {
			name = prefix + ": " + name
		}
		p := r.OutOfPlace
		if p == nil {
			p = r.InPlace
		}
		if p == nil || r.Size <= 0 {
			continue
		}
		i, ok := index[name]
		if !ok {
			i = len(out)
			index[name] = i
			out = append(out, Series{Name: name})
		}
		out[i].Points = append(out[i].Points, Point{Size: r.Size, BusBW: p.BusBW})
	}
	return out
}

// Plot draws the series, bus bandwidth against size on a logarithmic axis, and writes the
// chart to path as PNG, SVG or PDF by its extension.
func Plot(path, title string, series []Series) error {
	if err := CheckPlotPath(path); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "size (bytes)"
	p.Y.Label.Text = "bus bandwidth (GB/s)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = sizeTicks{}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	var args []any
	for _, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.Points))
		for i, pt := range s.Points {
			xys[i] = plotter.XY{X: float64(pt.Size), Y: pt.BusBW}
		}
		args = append(args, s.Name, xys)
	}
	if len(args) == 0 {
		return fmt.Errorf("bench: plot %s: no rows with a size above 0 to draw", path)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	if err := p.Save(9*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	return nil
}

// sizeTicks marks powers of two on the size axis, labelled as 4K, 1M: at most about ten of
// them labelled, counted from the power of two nearest the smallest size (the sizes of a sweep
// by a power-of-two factor then fall on labelled ticks).
type sizeTicks struct{}

func (sizeTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 {
		lo = 1
	}
	if hi < lo {
		hi = lo
	}
	first, last := int(math.Floor(math.Log2(lo))), int(math.Ceil(math.Log2(hi)))
	base := int(math.Ceil(math.Log2(lo) - 0.1)) // 4092 bytes counts as 4K
	step := max(1, (last-base+9)/10)
	var ticks []plot.Tick
	for e := first; e <= last && e < 63; e++ {
		v := math.Ldexp(1, e)
		t := plot.Tick{Value: v}
		if e >= base && (e-base)%step == 0 {
			t.Label = FormatSize(int64(v))
		}
		ticks = append(ticks, t)
	}
	return ticks
}
