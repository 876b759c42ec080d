//go:build !amd64 || purego

package reduce

func accelPaths() []string { return []string{"go"} }

func withPath(_ string, f func()) { f() }
