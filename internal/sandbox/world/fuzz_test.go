package world

import "testing"

// FuzzParse: no input makes Parse panic, and a world it accepts is valid.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("regions: [us-east-1]\naccounts: [{id: \"111111111111\"}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("regions: [us-east-1]\naccounts:\n  - <<: [*a]\n"))
	f.Add([]byte("{v: [ec2:*]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := Parse(data, "fuzz.yaml")
		if err == nil {
			if verr := w.Validate(); verr != nil {
				t.Fatalf("Parse accepted a world that Validate rejects: %v", verr)
			}
		}
	})
}
