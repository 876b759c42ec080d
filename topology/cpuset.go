package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxCPU bounds the CPU numbers a CPUSet may hold (Linux allows at most 8192 today).
const MaxCPU = 1 << 16

// CPUSet is a set of CPU numbers, sorted and without duplicates. It encodes (as text and in
// JSON) in the kernel's cpulist form, "0-3,8,10-11", which is short for the contiguous sets
// affinity masks usually are.
type CPUSet []int

// NewCPUSet returns the set of the given CPU numbers, sorted and without duplicates.
func NewCPUSet(cpus ...int) CPUSet {
	s := slices.Clone(cpus)
	slices.Sort(s)
	return CPUSet(slices.Compact(s))
}

// ParseCPUSet parses the kernel's cpulist form ("0-3,8"; empty for the empty set). Whitespace
// around the list and its items is ignored.
func ParseCPUSet(list string) (CPUSet, error) {
	list = strings.TrimSpace(list)
	if list == "" {
		return nil, nil
	}
	var s CPUSet
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseCPU(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", list, err)
		}
		last := first
		if isRange {
			if last, err = parseCPU(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", list, err)
			}
			if last < first {
				return nil, fmt.Errorf("cpu list %q: range %q runs backwards", list, item)
			}
		}
		if len(s) > 0 && first <= s[len(s)-1] {
			return nil, fmt.Errorf("cpu list %q: %q is not in ascending order", list, item)
		}
		for c := first; c <= last; c++ {
			s = append(s, c)
		}
	}
	return s, nil
}

func parseCPU(s string) (int, error) {
	s = strings.TrimSpace(s)
	// Atoi would accept "+1"; the kernel never writes a sign.
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("bad cpu number %q", s)
	}
	c, err := strconv.Atoi(s)
	if err != nil || c >= MaxCPU {
		return 0, fmt.Errorf("bad cpu number %q (want 0..%d)", s, MaxCPU-1)
	}
	return c, nil
}

// String returns the set in cpulist form ("0-3,8"), "" for the empty set.
func (s CPUSet) String() string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String()
}

// MarshalText encodes the set in cpulist form.
func (s CPUSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes the cpulist form.
func (s *CPUSet) UnmarshalText(text []byte) error {
	v, err := ParseCPUSet(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// valid reports whether the set is sorted, without duplicates, and within 0..MaxCPU-1.
func (s CPUSet) valid() bool {
	for i, c := range s {
		if c < 0 || c >= MaxCPU || (i > 0 && c <= s[i-1]) {
			return false
		}
	}
	return true
}

// Intersect returns the CPUs in both sets.
func (s CPUSet) Intersect(t CPUSet) CPUSet {
	var out CPUSet
	for i, j := 0, 0; i < len(s) && j < len(t); {
		switch {
		case s[i] < t[j]:
			i++
		case s[i] > t[j]:
			j++
		default:
			out = append(out, s[i])
			i++
			j++
		}
	}
	return out
}
