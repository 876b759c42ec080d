package topology

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// maxMatrixRanks is the size above which WriteText prints transports between hosts instead of
// between ranks (the transport depends only on the two hosts, so nothing is lost).
const maxMatrixRanks = 64

// WriteText writes a description of the system for people: its hosts with their ranks (PID, NUMA
// nodes, CPUs), the transport of every pair as a matrix, the ring (with "|" at each host
// crossing, the last one leading back to the first rank) and the tree rooted at rank 0:
//
//	system: 4 ranks on 2 hosts; transport by host (shm inside, quic between)
//	host 0: a (id a)
//	  rank 0  pid 10  numa 0  cpus 0-1
//	  rank 1  pid 11  numa 0  cpus 2-3
//	host 1: b (id b)
//	  rank 2  pid 20  numa 0  cpus 0-1
//	  rank 3  pid 21  numa 1  cpus 2-3
//	transports (- self, q quic, s shm):
//	     0 1 2 3
//	  0  - s q q
//	  1  s - q q
//	  2  q q - s
//	  3  q q s -
//	ring: 0 -> 1 | 2 -> 3 | (0)  (2 host crossings)
//	tree (root 0):
//	  0  [host 0]
//	  |-- 1
//	  `-- 2  [host 1]
//	      `-- 3
func (s *System) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	s.writeHeader(ew)
	s.writeHosts(ew)
	if s.Size() <= maxMatrixRanks {
		s.writeRankMatrix(ew)
	} else {
		s.writeHostMatrix(ew)
	}
	fmt.Fprintf(ew, "ring: %s  (%s)\n", s.ringLine(s.Ring()), count(s.Crossings(s.Ring()), "host crossing"))
	s.writeTree(ew)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (s *System) writeHeader(w io.Writer) {
	choice := "transport by host (shm inside, quic between)"
	if s.forced != "" {
		choice = fmt.Sprintf("transport forced to %s for every pair", s.forced)
	}
	fmt.Fprintf(w, "system: %s on %s; %s\n", count(s.Size(), "rank"), count(len(s.Hosts), "host"), choice)
}

// count returns n and the noun, in the plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (s *System) writeHosts(w io.Writer) {
	for h, host := range s.Hosts {
		name := host.Hostname
		if name == "" {
			name = "?"
		}
		fmt.Fprintf(w, "host %d: %s (id %s)", h, name, host.ID)
		if procs, cpus, over := s.load(host); over {
			fmt.Fprintf(w, "  oversubscribed: %d processes on %s", procs, count(cpus, "CPU"))
		}
		fmt.Fprintln(w)
		for _, r := range host.Ranks {
			p := s.Peers[r]
			fmt.Fprintf(w, "  rank %d  pid %d  numa %s  cpus %s\n", r, p.PID, orUnknown(joinInts(p.NUMA)), orUnknown(p.CPUs.String()))
		}
	}
}

// abbreviations maps each transport name in use to the shortest label that tells them apart:
// their first letters when those differ, else the whole names.
func (s *System) abbreviations() map[string]string {
	var names []string
	if s.forced != "" {
		names = []string{s.forced}
	} else {
		for _, h := range s.Hosts {
			if len(h.Ranks) > 1 {
				names = append(names, TransportSHM)
				break
			}
		}
		if len(s.Hosts) > 1 {
			names = append(names, TransportQUIC)
		}
	}
	slices.Sort(names)
	short := map[string]string{}
	firsts := map[string]bool{}
	for _, n := range names {
		f := n[:1]
		if firsts[f] {
			for _, n := range names {
				short[n] = n
			}
			return short
		}
		firsts[f] = true
		short[n] = f
	}
	return short
}

func (s *System) legend(short map[string]string, self bool) string {
	var parts []string
	if self {
		parts = append(parts, "- self")
	}
	names := make([]string, 0, len(short))
	for n := range short {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if short[n] != n {
			parts = append(parts, short[n]+" "+n)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (s *System) writeRankMatrix(w io.Writer) {
	short := s.abbreviations()
	fmt.Fprintf(w, "transports%s:\n", s.legend(short, true))
	width := len(strconv.Itoa(s.Size() - 1))
	for _, a := range short {
		width = max(width, len(a))
	}
	label := len(strconv.Itoa(s.Size() - 1))
	row := make([]string, s.Size())
	for b := range row {
		row[b] = pad(strconv.Itoa(b), width)
	}
	fmt.Fprintf(w, "  %s  %s\n", strings.Repeat(" ", label), strings.Join(row, " "))
	for a := range s.Size() {
		for b := range row {
			cell := "-"
			if a != b {
				cell = short[s.Transport(a, b)]
			}
			row[b] = pad(cell, width)
		}
		fmt.Fprintf(w, "  %s  %s\n", pad(strconv.Itoa(a), label), strings.Join(row, " "))
	}
}

func (s *System) writeHostMatrix(w io.Writer) {
	short := s.abbreviations()
	h := len(s.Hosts)
	fmt.Fprintf(w, "transports between hosts%s (above %d ranks the rank matrix is left out):\n", s.legend(short, false), maxMatrixRanks)
	width := len(strconv.Itoa(h - 1))
	for _, a := range short {
		width = max(width, len(a))
	}
	label := len("host ") + len(strconv.Itoa(h-1))
	row := make([]string, h)
	for b := range row {
		row[b] = pad(strconv.Itoa(b), width)
	}
	fmt.Fprintf(w, "  %s  %s\n", strings.Repeat(" ", label), strings.Join(row, " "))
	for a := range h {
		for b := range row {
			row[b] = pad(short[s.Transport(s.Hosts[a].Ranks[0], s.Hosts[b].Ranks[0])], width)
		}
		fmt.Fprintf(w, "  %s  %s\n", pad("host "+strconv.Itoa(a), label), strings.Join(row, " "))
	}
}

// ringLine draws a ring order: " -> " between host-mates, " | " at a host crossing, and the
// step back to the first rank in parentheses.
func (s *System) ringLine(order []int) string {
	if len(order) == 0 {
		return ""
	}
	var b strings.Builder
	for i, r := range order {
		b.WriteString(strconv.Itoa(r))
		next := order[(i+1)%len(order)]
		if s.SameHost(r, next) {
			b.WriteString(" -> ")
		} else {
			b.WriteString(" | ")
		}
	}
	b.WriteString("(" + strconv.Itoa(order[0]) + ")")
	return b.String()
}

func (s *System) writeTree(w io.Writer) {
	parent, _ := s.Tree(0) // rank 0 always exists
	children := make([][]int, s.Size())
	for r, p := range parent {
		if p >= 0 {
			children[p] = append(children[p], r)
		}
	}
	fmt.Fprintln(w, "tree (root 0):")
	var draw func(r int, lead, branch string)
	draw = func(r int, lead, branch string) {
		note := ""
		if parent[r] < 0 || !s.SameHost(r, parent[r]) {
			note = fmt.Sprintf("  [host %d]", s.hostOf[r])
		}
		fmt.Fprintf(w, "  %s%s%d%s\n", lead, branch, r, note)
		switch branch {
		case "|-- ":
			lead += "|   "
		case "`-- ":
			lead += "    "
		}
		for i, c := range children[r] {
			if i == len(children[r])-1 {
				draw(c, lead, "`-- ")
			} else {
				draw(c, lead, "|-- ")
			}
		}
	}
	draw(0, "", "")
}

func pad(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return strings.Repeat(" ", width-len(s)) + s
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
