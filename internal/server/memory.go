package server

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryBudget resolves limits.memory_budget: auto is 75% of the cgroup
// (container) memory limit, or of the machine's memory; 0 means none.
func (s *Server) memoryBudget() uint64 {
	b, auto, _ := s.cfg.Limits.ParseMemoryBudget() // validated
	if !auto {
		return b
	}
	total := physicalMemory()
	if c := cgroupLimit(); c > 0 && (total == 0 || c < total) {
		total = c
	}
	return total / 4 * 3
}

// memoryWatchBudget resolves the budget for the watcher: the broker checks it every 250 ms,
// and the Go runtime's soft memory limit is set to it (unless GOMEMLIMIT
// says otherwise), so that the collector works harder before shedding
// starts.
func (s *Server) memoryWatchBudget() uint64 {
	budget := s.memoryBudget()
	if budget == 0 {
		return 0
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(min(budget, 1<<62)))
	}
	s.log.Info("memory budget", "bytes", budget)
	return budget
}

// cgroupLimit reads the cgroup v2 (or v1) memory limit; 0 when none.
func cgroupLimit() uint64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(data))
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n < 1<<60 {
			return n
		}
	}
	return 0
}

// physicalMemory reads MemTotal from /proc/meminfo; 0 when unknown.
func physicalMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				if kb, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
