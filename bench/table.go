package bench

import (
	"fmt"
	"io"
	"strings"
)

// Table writes rows in the layout of nccl-tests: size, count, type, redop, root, then time,
// algbw, busbw and #wrong out of place and in place, plus (with PerIter) each place's median,
// 99th percentile and spread, and at the end of each line the algorithm and the transport. A
// header starts each operation's block; Footer ends the table.
type Table struct {
	w       io.Writer
	perIter bool
	last    Collective
	err     error
}

// NewTable returns a Table that writes to w; perIter adds the per-iteration columns.
func NewTable(w io.Writer, perIter bool) *Table {
	return &Table{w: w, perIter: perIter}
}

func (t *Table) printf(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

// Err returns the first error writing to the table's writer.
func (t *Table) Err() error { return t.err }

// Column formats. A place's block is placeWidth characters wide; the per-iteration block
// iterWidth.
const (
	keyFormat  = "%12s  %12s  %8s  %6s  %6s"
	keyWidth   = 12 + 2 + 12 + 2 + 8 + 2 + 6 + 2 + 6
	placeWidth = 2 + 7 + 2 + 6 + 2 + 6 + 2 + 5
	iterWidth  = 2 + 8 + 2 + 8 + 2 + 7
	algoWidth  = 18
)

// Header writes the column headers of a block of rows of operation c: a line naming the
// operation, then nccl-tests' three header lines with the extra columns.
func (t *Table) Header(c Collective) {
	t.last = c
	t.printf("#\n# Collective: %s\n#\n", c)
	// nccl-tests' placement of the two labels above the places.
	line := "#" + strings.Repeat(" ", 62) + "out-of-place" + strings.Repeat(" ", 23) + "in-place"
	if t.perIter {
		line += strings.Repeat(" ", keyWidth+2*placeWidth-len(line))
		line += center("out-of-place per-iter", iterWidth) + center("in-place per-iter", iterWidth)
	}
	t.printf("%s\n", strings.TrimRight(line, " "))
	head := "#" + fmt.Sprintf(keyFormat, "size", "count", "type", "redop", "root")[1:]
	units := "#" + fmt.Sprintf(keyFormat, "(B)", "(elements)", "", "", "")[1:]
	for range 2 {
		head += fmt.Sprintf("  %7s  %6s  %6s %6s", "time", "algbw", "busbw", "#wrong")
		units += fmt.Sprintf("  %7s  %6s  %6s  %5s", "(us)", "(GB/s)", "(GB/s)", "")
	}
	if t.perIter {
		for range 2 {
			head += fmt.Sprintf("  %8s  %8s  %7s", "p50", "p99", "spread")
			units += fmt.Sprintf("  %8s  %8s  %7s", "(us)", "(us)", "(%)")
		}
	}
	head += fmt.Sprintf("  %-*s  %s", algoWidth, "algorithm", "transport")
	t.printf("%s\n%s\n", head, strings.TrimRight(units, " "))
}

// center centres s in a field of width characters.
func center(s string, width int) string {
	pad := max(width-len(s), 0)
	return strings.Repeat(" ", pad-pad/2) + s + strings.Repeat(" ", pad/2)
}

// Row writes one row, after a header when it is the first row of its operation.
func (t *Table) Row(r Row) {
	if r.Collective != t.last {
		t.Header(r.Collective)
	}
	t.printf("%s\n", FormatRow(r, t.perIter))
}

// FormatRow returns the table line of r, without a newline.
func FormatRow(r Row, perIter bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%12d  %12d  %8s  %6s  %6d", r.Size, r.Count, TypeName(r.Type), OpName(r.Op), r.Root)
	for _, res := range []Result{r.OutOfPlace, r.InPlace} {
		if res.Skipped {
			fmt.Fprintf(&b, "  %7s  %6s  %6s  %5s", "N/A", "N/A", "N/A", "N/A")
			continue
		}
		wrong := "N/A"
		if res.Wrong >= 0 {
			wrong = fmt.Sprint(res.Wrong)
		}
		fmt.Fprintf(&b, "  %7s  %6.2f  %6.2f  %5s", formatTime(res.Time), res.AlgBW, res.BusBW, wrong)
	}
	if perIter {
		for _, res := range []Result{r.OutOfPlace, r.InPlace} {
			if res.Skipped {
				fmt.Fprintf(&b, "  %8s  %8s  %7s", "N/A", "N/A", "N/A")
				continue
			}
			fmt.Fprintf(&b, "  %8s  %8s  %7.1f", formatTime(res.P50), formatTime(res.P99), res.Spread)
		}
	}
	fmt.Fprintf(&b, "  %-*s  %s", algoWidth, r.Algorithm, r.Transport)
	return b.String()
}

// formatTime writes microseconds as nccl-tests does: two decimals below 100, one below 10000,
// none above.
func formatTime(us float64) string {
	switch {
	case us >= 10000:
		return fmt.Sprintf("%7.0f", us)
	case us >= 100:
		return fmt.Sprintf("%7.1f", us)
	}
	return fmt.Sprintf("%7.2f", us)
}

// Footer writes the end of the table: the count of wrong values and the average bus
// bandwidth, as nccl-tests does, and the run's notes.
func (t *Table) Footer(s Summary) {
	for _, n := range s.Notes {
		t.printf("# %s\n", n)
	}
	switch {
	case !s.Checked:
		t.printf("# %-20s : N/A (not checked: -c 0)\n", "Out of bounds values")
	case s.Wrong > 0:
		t.printf("# %-20s : %d FAILED\n", "Out of bounds values", s.Wrong)
	default:
		t.printf("# %-20s : %d OK\n", "Out of bounds values", s.Wrong)
	}
	t.printf("# %-20s : %.3f \n#\n", "Avg bus bandwidth", s.AvgBusBW)
}
