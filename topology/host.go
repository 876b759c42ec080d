package topology

import (
	"fmt"
	"os"
)

// HostIDEnv names the environment variable that, when set and not empty, replaces the host
// identity HostID finds. Tests set it to make ranks of one machine pretend to be on several
// hosts; a launcher may set it where the rule below does not fit.
const HostIDEnv = "CHORUS_HOST_ID"

// HostID returns the identity of the host the calling process runs on. Two processes are on one
// host when they can share memory the way the shm transport does it: by passing a memfd over a
// Unix socket found at a path in the file system. That needs one kernel and one view of the file
// system, so on Linux the identity is
//
//	boot:<boot_id>/root:<device>.<inode of />
//
// The kernel's boot_id (/proc/sys/kernel/random/boot_id) is random per boot, so it names one
// kernel. The root directory names one view of the file system: a container is started in a
// root of its own (pivot_root or chroot into its image), so containers on one kernel, which
// cannot reach each other's socket paths, are different hosts. Namespaces are left out on
// purpose: processes in different network namespaces reach each other's path-named Unix sockets
// (abstract ones they do not, so the shm transport uses paths), and a private mount namespace
// over the same root, as `ip netns exec` makes, still sees the same /tmp; they are one host.
//
// The rule errs towards splitting: two containers that bind-mount one directory are called two
// hosts and talk QUIC, which is slower but works. A mount namespace that hides the socket
// directory behind its own mount over the same root would be called one host wrongly: set
// CHORUS_SHM_DIR to a directory both see, or CHORUS_HOST_ID, or CHORUS_TRANSPORT=quic.
//
// Where /proc cannot be read (or off Linux) the identity is "hostname:<hostname>". The
// environment variable CHORUS_HOST_ID, when set, overrides all of this.
func HostID() (string, error) {
	return hostID(os.Getenv(HostIDEnv), "/proc")
}

func hostID(override, proc string) (string, error) {
	if override != "" {
		if err := checkText(override, maxHostID); err != nil {
			return "", fmt.Errorf("host id from %s: %w", HostIDEnv, err)
		}
		return override, nil
	}
	if id := kernelHostID(proc); id != "" {
		return id, nil
	}
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host id: no /proc and no hostname: %w", err)
	}
	return printable("hostname:"+name, maxHostID), nil
}
