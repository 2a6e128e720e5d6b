package codec

import (
	"strings"
	"testing"
)

const baseSchema = `{"type":"record","name":"T","namespace":"x","fields":[
  {"name":"id","type":"string"},
  {"name":"n","type":"long"},
  {"name":"kind","type":{"type":"enum","name":"K","symbols":["UNKNOWN","A","B"],"default":"UNKNOWN"}}]}`

func TestDiff(t *testing.T) {
	cases := []struct {
		name, newSchema string
		want            string // substring of the one breaking change, "" for none
	}{
		{"optional field added", strings.Replace(baseSchema, `{"name":"n"`, `{"name":"note","type":["null","string"],"default":null},{"name":"n"`, 1), ""},
		{"enum symbol added", strings.Replace(baseSchema, `"B"]`, `"B","C"]`, 1), ""},
		{"field removed without default", strings.Replace(baseSchema, `{"name":"n","type":"long"},`, ``, 1), "n: field removed although it has no default"},
		{"field type changed", strings.Replace(baseSchema, `"type":"long"`, `"type":"string"`, 1), "n: type changed from long to string"},
		{"enum symbol removed", strings.Replace(baseSchema, `,"B"]`, `]`, 1), "lost symbol B"},
		{"required field added", strings.Replace(baseSchema, `{"name":"n"`, `{"name":"m","type":"int"},{"name":"n"`, 1), "m: field added without a default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := Diff(baseSchema, tc.newSchema)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(changes) != 0 {
					t.Fatalf("want no breaking change, got %+v", changes)
				}
				return
			}
			if len(changes) != 1 || !strings.Contains(changes[0].Path+": "+changes[0].What, tc.want) {
				t.Fatalf("want one change containing %q, got %+v", tc.want, changes)
			}
		})
	}
}
