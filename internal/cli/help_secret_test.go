package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

// No command's --help shows the Temporal API key of the environment.
func TestHelpNeverShowsTheAPIKey(t *testing.T) {
	const key = "tmprl-s3cret-api-key"
	t.Setenv(temporalconn.EnvAPIKey, key)
	var walk func(path []string, c *cobra.Command)
	seen := 0
	walk = func(path []string, c *cobra.Command) {
		var out bytes.Buffer
		root := newRoot(&out, &out)
		root.SetArgs(append(append([]string{}, path...), "--help"))
		if err := root.Execute(); err != nil {
			t.Errorf("%v --help: %v", path, err)
		}
		seen++
		if strings.Contains(out.String(), key) {
			t.Errorf("amicrypt %s --help shows the API key", strings.Join(path, " "))
		}
		for _, sub := range c.Commands() {
			if !sub.Hidden && sub.Name() != "help" {
				walk(append(append([]string{}, path...), sub.Name()), sub)
			}
		}
	}
	walk(nil, newRoot(&bytes.Buffer{}, &bytes.Buffer{}))
	if seen < 5 {
		t.Fatalf("only %d commands' help read", seen)
	}
}
