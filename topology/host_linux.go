package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// kernelHostID builds the identity described at HostID from the proc file system mounted at
// proc, or returns "" when the boot id cannot be read.
func kernelHostID(proc string) string {
	boot, err := os.ReadFile(filepath.Join(proc, "sys/kernel/random/boot_id"))
	if err != nil {
		return ""
	}
	id := "boot:" + strings.TrimSpace(string(boot))
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err == nil {
		id += fmt.Sprintf("/root:%d.%d", st.Dev, st.Ino)
	}
	if checkText(id, maxHostID) != nil {
		return ""
	}
	return id
}
