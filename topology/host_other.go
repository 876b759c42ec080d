//go:build !linux

package topology

// kernelHostID returns "" off Linux: HostID falls back to the hostname.
func kernelHostID(proc string) string { return "" }
