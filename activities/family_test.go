package activities

import "testing"

func TestFamilyFromNameDropsWhatPackerAppendsPerBuild(t *testing.T) {
	for name, want := range map[string]string{
		"base-1733500000":           "base",
		"base-20261207":             "base",
		"base-20261207T101500Z":     "base",
		"web-2026-12-07":            "web",
		"web-2026-12-07T10-15-00Z":  "web",
		"app_20261207101500":        "app",
		"api-build-42":              "api-build",
		"ubuntu-22.04-1733500000":   "ubuntu-22.04",
		"ubuntu-22.04":              "ubuntu-22.04",
		"golden":                    "golden",
		"1733500000":                "1733500000",
		"rhel 9 1733500000":         "rhel 9",
		"amzn2-ami-kernel-5.10-hvm": "amzn2-ami-kernel-5.10-hvm",
	} {
		if got := FamilyFromName(name); got != want {
			t.Errorf("FamilyFromName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestFamilyOfPrefersTheConfiguredFamily(t *testing.T) {
	src := Source{ImageID: "ami-1", Name: "base-1733500000"}
	if got := FamilyOf(Target{Family: "golden"}, src); got != "golden" {
		t.Errorf("configured family: got %q", got)
	}
	if got := FamilyOf(Target{}, src); got != "base" {
		t.Errorf("derived family: got %q", got)
	}
	if got := FamilyOf(Target{}, Source{ImageID: "ami-1"}); got != "ami-1" {
		t.Errorf("no name: got %q", got)
	}
	if !sameFamily("base-1733500000", "base") || sameFamily("based-1", "base") || sameFamily("", "base") {
		t.Error("sameFamily: an old copy's full-name tag must match its derived family, nothing else")
	}
}
