//go:build amd64 && !purego

package reduce

// accelPaths lists the code paths this CPU can run, best first; "go" is the portable kernels.
func accelPaths() []string {
	var p []string
	if hasAVX512F && hasAVX2 {
		p = append(p, "avx512")
	}
	if hasAVX2 {
		p = append(p, "avx2")
	}
	return append(p, "go")
}

// withPath runs f with only the given code path enabled.
func withPath(path string, f func()) {
	z, y := useAVX512, useAVX2
	defer func() { useAVX512, useAVX2 = z, y }()
	useAVX512 = path == "avx512"
	useAVX2 = path == "avx512" || path == "avx2"
	f()
}
