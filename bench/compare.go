package bench

import (
	"fmt"
	"io"
	"math"
)

// Comparison is what Compare found.
type Comparison struct {
	Matched int     // rows present in both reports
	OnlyA   int     // rows of A without a match in B
	OnlyB   int     // rows of B without a match in A
	GeoMean float64 // geometric mean of the speed-ups (A's time / B's time) over every matched place
}

type recordKey struct {
	coll, typ, op string
	size          int64
	root          int
}

func keyOf(r Record) recordKey {
	return recordKey{coll: r.Collective, typ: r.Type, op: r.Op, size: r.Size, root: r.Root}
}

// Compare writes the table of ratios between two runs: for each row present in both (same
// operation, size, type, reduction op and root), the bus bandwidth of each and the speed-up of
// B over A (A's time divided by B's: above 1, B is faster), out of place and in place; then
// the rows found in one report only and the geometric mean of the speed-ups. nameA and nameB
// label the runs.
func Compare(w io.Writer, a, b *Report, nameA, nameB string) (Comparison, error) {
	var cmp Comparison
	inB := map[recordKey]Record{}
	for _, r := range b.Rows {
		inB[keyOf(r)] = r
	}
	seen := map[recordKey]bool{}
	var logSum float64
	var logN int
	var werr error
	printf := func(format string, args ...any) {
		if werr == nil {
			_, werr = fmt.Fprintf(w, format, args...)
		}
	}
	printf("# A: %s (%d ranks, %s)\n", nameA, a.Config.Ranks, a.Config.Transport)
	printf("# B: %s (%d ranks, %s)\n", nameB, b.Config.Ranks, b.Config.Transport)
	printf("# speed-up = A time / B time: above 1, B is faster\n#\n")
	printf("#%13s  %12s  %8s  %6s  %6s", "collective", "size", "type", "redop", "root")
	printf("  %29s  %29s\n", center("out-of-place", 29), center("in-place", 29))
	printf("#%13s  %12s  %8s  %6s  %6s", "", "(B)", "", "", "")
	for range 2 {
		printf("  %8s  %8s  %9s", "A busbw", "B busbw", "speed-up")
	}
	printf("\n")
	for _, ra := range a.Rows {
		k := keyOf(ra)
		rb, ok := inB[k]
		if !ok || seen[k] {
			cmp.OnlyA++
			continue
		}
		seen[k] = true
		cmp.Matched++
		printf("%14s  %12d  %8s  %6s  %6d", ra.Collective, ra.Size, ra.Type, ra.Op, ra.Root)
		for _, pl := range [][2]*Place{{ra.OutOfPlace, rb.OutOfPlace}, {ra.InPlace, rb.InPlace}} {
			pa, pb := pl[0], pl[1]
			if pa == nil || pb == nil {
				printf("  %8s  %8s  %9s", "N/A", "N/A", "N/A")
				continue
			}
			speed := "N/A"
			if pa.Time > 0 && pb.Time > 0 {
				s := pa.Time / pb.Time
				speed = fmt.Sprintf("%.3f", s)
				logSum += math.Log(s)
				logN++
			}
			printf("  %8.2f  %8.2f  %9s", pa.BusBW, pb.BusBW, speed)
		}
		printf("\n")
	}
	for _, rb := range b.Rows {
		if !seen[keyOf(rb)] {
			cmp.OnlyB++
		}
	}
	if logN > 0 {
		cmp.GeoMean = math.Exp(logSum / float64(logN))
	}
	printf("# Rows compared: %d; only in A: %d; only in B: %d\n", cmp.Matched, cmp.OnlyA, cmp.OnlyB)
	if logN > 0 {
		printf("# Geometric mean speed-up of B over A: %.3f\n", cmp.GeoMean)
	}
	if cmp.Matched == 0 {
		printf("# Nothing to compare: the runs share no row (same collective, size, type, redop and root)\n")
	}
	return cmp, werr
}
