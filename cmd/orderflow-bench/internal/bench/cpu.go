package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Components whose CPU time is accounted (metric 6).
const (
	CompPostgres   = "postgresql"
	CompBroker     = "kafka broker"
	CompConnect    = "kafka connect + debezium"
	CompRegistry   = "schema registry"
	CompProcessors = "orderflow processors"
	CompHarness    = "bench harness (load, tracking)"
)

const clockTicks = 100 // USER_HZ on Linux

// cpuSnapshot is the user+system CPU seconds each component's processes have used so far.
type cpuSnapshot map[string]float64

// takeCPU reads /proc/*/stat of every process of the stack, the processors (pid) and this
// process. PostgreSQL counts every postgres process, including the registry's connections (the
// registry stores its schemas in PostgreSQL) — backends that exited in between are not counted.
func takeCPU(processorsPid int) cpuSnapshot {
	snap := cpuSnapshot{}
	for pid, comp := range stackProcesses() {
		snap[comp] += procCPUSeconds(pid)
	}
	snap[CompHarness] += procCPUSeconds(os.Getpid())
	if processorsPid > 0 {
		snap[CompProcessors] += procCPUSeconds(processorsPid)
	}
	return snap
}

// stackProcesses returns the component of every running process of the stack, by pid.
func stackProcesses() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if comp := classify(pid); comp != "" {
				out[pid] = comp
			}
		}
	}
	return out
}

func classify(pid int) string {
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if strings.TrimSpace(string(comm)) == "postgres" {
		return CompPostgres
	}
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	c := string(cmdline)
	switch {
	case strings.Contains(c, "kafka.Kafka"):
		return CompBroker
	case strings.Contains(c, "ConnectDistributed"):
		return CompConnect
	case strings.Contains(c, "apicurio") || strings.Contains(c, "quarkus-run.jar"):
		return CompRegistry
	}
	return ""
}

// procCPUSeconds returns utime+stime of a process (all its threads), in seconds.
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	// fields after the command name (which may contain spaces) start after the last ')'
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// since returns the CPU seconds used per component between before and s.
func (s cpuSnapshot) since(before cpuSnapshot) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		out[k] = max(0, v-before[k])
	}
	return out
}
