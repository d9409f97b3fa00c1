//go:build !linux

package benchkit

import (
	"os/exec"
	"time"
)

// Peak RSS and CPU times are read from /proc: off Linux they are unknown.

func dieWithParent(*exec.Cmd) {}

func Memory(int) (rss, peak int64, ok bool) { return 0, 0, false }

func OpenFiles(int) (int, bool) { return 0, false }

func CPUTime(int) (time.Duration, bool) { return 0, false }

func SelfCPU() time.Duration { return 0 }

// ResetPeakMemory is unavailable off Linux.
func ResetPeakMemory(int) bool { return false }
