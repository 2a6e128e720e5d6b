package bench

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// ProfileShare is the share of CPU samples whose stack passes through an area of the code.
type ProfileShare struct {
	Area    string  `json:"area"`
	Percent float64 `json:"percent"`
}

// profileAreas maps an area name to the function-name prefixes that identify it.
var profileAreas = []struct {
	name     string
	prefixes []string
}{
	{"encoding/json (JSON table values of payments, reservations, inventory, shipping)", []string{"encoding/json."}},
	{"Avro codec (goavro + the reflective mapper)", []string{"github.com/linkedin/goavro", "github.com/orderflow/orderflow/schemas/codec."}},
	{"LevelDB local tables", []string{"github.com/syndtr/goleveldb"}},
	{"sarama (Kafka client: produce, fetch, metrics)", []string{"github.com/IBM/sarama", "github.com/rcrowley/go-metrics"}},
	{"system calls (network and disk)", []string{"internal/runtime/syscall", "syscall."}},
	{"garbage collector", []string{"runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.mallocgc"}},
	{"OpenTelemetry spans", []string{"go.opentelemetry.io"}},
	{"goka (processor machinery)", []string{"github.com/lovoo/goka"}},
	{"orderflow processors' decisions (Decide)", []string{ // the services, not their kernel
		"github.com/orderflow/orderflow/processors/payments.", "github.com/orderflow/orderflow/processors/reservations.",
		"github.com/orderflow/orderflow/processors/inventory.", "github.com/orderflow/orderflow/processors/shipping.",
		"github.com/orderflow/orderflow/processors/orderstatus."}},
	{"orderflow processor kernel (decode, dedupe, dead letters, emits)", []string{"github.com/orderflow/orderflow/processors/kernel/"}},
}

// AnalyseProfile returns, for a CPU profile, the share of samples per area (areas overlap: a
// JSON decode inside goka counts for both) and the top functions by own time.
func AnalyseProfile(path string, top int) (shares []ProfileShare, flat []ProfileShare, seconds float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("profile %s: %w", path, err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, nil, 0, fmt.Errorf("profile %s: no cpu samples", path)
	}
	var total int64
	areaSum := make([]int64, len(profileAreas))
	own := map[string]int64{}
	for _, s := range p.Sample {
		v := s.Value[idx]
		total += v
		seen := make([]bool, len(profileAreas))
		for depth, loc := range s.Location {
			for li, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if depth == 0 && li == 0 {
					own[name] += v
				}
				for a, area := range profileAreas {
					if seen[a] {
						continue
					}
					for _, pre := range area.prefixes {
						if strings.HasPrefix(name, pre) {
							seen[a] = true
							areaSum[a] += v
							break
						}
					}
				}
			}
		}
	}
	if total == 0 {
		return nil, nil, 0, fmt.Errorf("profile %s: empty", path)
	}
	for a, area := range profileAreas {
		shares = append(shares, ProfileShare{area.name, 100 * float64(areaSum[a]) / float64(total)})
	}
	sort.SliceStable(shares, func(i, j int) bool { return shares[i].Percent > shares[j].Percent })
	for name, v := range own {
		flat = append(flat, ProfileShare{name, 100 * float64(v) / float64(total)})
	}
	sort.Slice(flat, func(i, j int) bool { return flat[i].Percent > flat[j].Percent })
	if len(flat) > top {
		flat = flat[:top]
	}
	return shares, flat, float64(total) / 1e9, nil
}
