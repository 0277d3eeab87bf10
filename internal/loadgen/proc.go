package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat. USER_HZ is
// 100 on every Linux architecture Go supports; sysconf(_SC_CLK_TCK) would
// need cgo.
const clockTick = 10 * time.Millisecond

// procSample is one reading of a process's counters.
type procSample struct {
	CPU time.Duration // user + system time, all threads
	RSS int64         // resident set size, bytes
}

// procRoot is where /proc is mounted; tests point it elsewhere.
var procRoot = "/proc"

// readProc reads the CPU time from /proc/PID/stat and the resident set
// size from /proc/PID/status.
func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("%s/%d/stat: %w", procRoot, pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return procSample{}, err
	}
	rss, err := parseStatusKB(status, "VmRSS:")
	if err != nil {
		return procSample{}, fmt.Errorf("%s/%d/status: %w", procRoot, pid, err)
	}
	return procSample{CPU: cpu, RSS: rss}, nil
}

// readHostCPU reads the time all CPUs spent running processes from
// /proc/stat: user, nice, system and steal (time the hypervisor gave to
// other machines). Interrupt time is left out: it is mostly the kernel's
// loopback networking on behalf of the broker and the generator.
func readHostCPU() (time.Duration, error) {
	stat, err := os.ReadFile(procRoot + "/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("%s/stat: unexpected format", procRoot)
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 8} { // user nice system (idle iowait irq softirq) steal
		v, err := strconv.ParseUint(string(f[i]), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("%s/stat: %w", procRoot, err)
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, nil
}

// parseStatCPU returns utime + stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses, so fields are counted after the last
// ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	// After ')': field 3 (state) is the first.
	fields := bytes.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, errors.New("too few fields")
	}
	u, err1 := strconv.ParseUint(string(fields[utime]), 10, 63)
	s, err2 := strconv.ParseUint(string(fields[stime]), 10, 63)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * clockTick, nil
}

// parseStatusKB returns the value of a "Key:   123 kB" line in bytes.
func parseStatusKB(status []byte, key string) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%s: unexpected format", key)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// procWatch follows the broker process during a measurement: a reading
// at the start, the highest RSS seen by a sampler goroutine, and a reading
// at the end. With or without a broker, it measures the generator's own
// CPU time and the busy time of the whole host, so that a report shows
// how much other processes disturbed it.
type procWatch struct {
	pid   int
	start procSample
	err   error

	self, host time.Duration // CPU time at the start
	at         time.Time     // the start

	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

// watchProc takes the first reading and starts sampling the RSS every
// interval until end is called.
func watchProc(pid int, interval time.Duration) *procWatch {
	w := &procWatch{pid: pid, at: time.Now()}
	w.self, w.host = selfAndHostCPU()
	if pid <= 0 {
		return w
	}
	w.start, w.err = readProc(pid)
	if w.err != nil {
		return w
	}
	w.peak = w.start.RSS
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if s, err := readProc(pid); err == nil {
					w.notePeak(s.RSS)
				}
			}
		}
	}()
	return w
}

func (w *procWatch) notePeak(rss int64) {
	w.mu.Lock()
	w.peak = max(w.peak, rss)
	w.mu.Unlock()
}

// selfAndHostCPU reads the generator's CPU time and the host's busy time;
// what cannot be read is 0.
func selfAndHostCPU() (self, host time.Duration) {
	if s, err := readProc(os.Getpid()); err == nil {
		self = s.CPU
	}
	host, _ = readHostCPU()
	return self, host
}

// hostStats returns the CPU figures of the whole host since the start;
// broker is the broker's CPU seconds (0 when unknown).
func (w *procWatch) hostStats(broker float64) *HostStats {
	self, host := selfAndHostCPU()
	if w.host == 0 || host == 0 {
		return nil
	}
	h := &HostStats{Seconds: time.Since(w.at).Seconds(), GeneratorCPUSeconds: (self - w.self).Seconds(),
		BusyCPUSeconds: (host - w.host).Seconds()}
	h.OthersCPUSeconds = max(0, h.BusyCPUSeconds-h.GeneratorCPUSeconds-broker)
	return h
}

// end stops sampling and returns the broker's figures, or nil when no pid
// was given. An error reading /proc is returned with what was measured.
func (w *procWatch) end() (*BrokerStats, error) {
	if w.pid <= 0 {
		return nil, nil
	}
	if w.err != nil {
		return nil, fmt.Errorf("broker process %d: %w", w.pid, w.err)
	}
	close(w.stop)
	<-w.done
	s, err := readProc(w.pid)
	if err != nil {
		return nil, fmt.Errorf("broker process %d: %w", w.pid, err)
	}
	w.notePeak(s.RSS)
	return &BrokerStats{
		PID:        w.pid,
		CPUSeconds: (s.CPU - w.start.CPU).Seconds(),
		RSSStart:   w.start.RSS,
		RSSEnd:     s.RSS,
		RSSPeak:    w.peak,
	}, nil
}

// finish ends the watch and returns the broker's and the host's figures.
func (w *procWatch) finish() (*BrokerStats, *HostStats, error) {
	b, err := w.end()
	cpu := 0.0
	if b != nil {
		cpu = b.CPUSeconds
	}
	return b, w.hostStats(cpu), err
}
