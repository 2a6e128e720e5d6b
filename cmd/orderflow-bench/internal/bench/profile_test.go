package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// A CPU profile of a process busy with JSON is attributed to the JSON area, and its top function
// by own time is named.
func TestAnalyseProfileAttributesSamplesToAreas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pb.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	value := map[string][]string{"closed": strings.Split(strings.Repeat("0b8f6c1e-5a43-4b0e-9d7e-3f1f1c1a2b3c,", 2000), ",")}
	for deadline := time.Now().Add(400 * time.Millisecond); time.Now().Before(deadline); {
		b, _ := json.Marshal(value)
		var back map[string][]string
		_ = json.Unmarshal(b, &back)
	}
	pprof.StopCPUProfile()
	f.Close()

	shares, flat, secs, err := AnalyseProfile(path, 5)
	if err != nil {
		t.Fatal(err)
	}
	if secs <= 0 || len(flat) == 0 || len(flat) > 5 {
		t.Fatalf("%.2fs of samples, %d top functions", secs, len(flat))
	}
	var jsonShare float64
	for _, s := range shares {
		if strings.HasPrefix(s.Area, "encoding/json") {
			jsonShare = s.Percent
		}
	}
	if jsonShare < 50 {
		t.Fatalf("JSON share %.1f%% of a JSON-bound profile; shares %v", jsonShare, shares)
	}
}

func TestAnalyseProfileRejectsAFileThatIsNoProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not.pb.gz")
	os.WriteFile(path, []byte("nope"), 0o644)
	if _, _, _, err := AnalyseProfile(path, 5); err == nil {
		t.Fatal("want an error")
	}
}
