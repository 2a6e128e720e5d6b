package streams_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/streams"
)

type counter struct {
	Name  string           `json:"name"`
	Count int64            `json:"count"`
	Done  bool             `json:"done"`
	Lines map[string]int32 `json:"lines"`
}

func (c *counter) MarshalState(w *streams.Writer) {
	w.String(c.Name)
	w.Varint(c.Count)
	w.Bool(c.Done)
	w.Int32Map(c.Lines)
}

func (c *counter) UnmarshalState(r *streams.Reader) {
	c.Name, c.Count, c.Done, c.Lines = r.String(), r.Varint(), r.Bool(), r.Int32Map()
}

type counterCodec = streams.StateCodec[counter, *counter]

func TestStateCodecRoundTrip(t *testing.T) {
	v := streams.Envelope[counter]{State: counter{Name: "sku-1", Count: -42, Done: true, Lines: map[string]int32{"b": 2, "a": 1}},
		Offsets: map[string]int64{"orders": 17, "replies": 3}}
	data, err := counterCodec{}.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := counterCodec{}.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: %+v, want %+v", got, v)
	}
	again, _ := counterCodec{}.Encode(got)
	if string(again) != string(data) {
		t.Error("encoding depends on map order")
	}
}

// Tables written by a release that encoded state as JSON keep working after an upgrade.
func TestStateCodecReadsLegacyJSON(t *testing.T) {
	got, err := counterCodec{}.Decode([]byte(`{"state":{"name":"x","count":3},"offsets":{"orders":9},"sent":[{"in":"orders"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := streams.Envelope[counter]{State: counter{Name: "x", Count: 3}, Offsets: map[string]int64{"orders": 9}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// A corrupt or hostile value is an error, never a panic or a huge allocation.
func TestStateCodecRefusesCorruptValues(t *testing.T) {
	good, _ := counterCodec{}.Encode(streams.Envelope[counter]{State: counter{Name: "abc", Lines: map[string]int32{"a": 1}}})
	for name, data := range map[string][]byte{
		"empty":          {},
		"unknown format": {9, 0},
		"truncated":      good[:len(good)-2],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"huge count":     {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge string":    {1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad json":       []byte(`{"state":`),
	} {
		if _, err := (counterCodec{}).Decode(data); !errors.Is(err, streams.ErrCorruptState) {
			t.Errorf("%s: err %v, want ErrCorruptState", name, err)
		}
	}
}
