// Package metricstest scrapes a /metrics handler the way Prometheus does
// (an HTTP GET, the text exposition format) and reads the samples, for
// tests that assert what an operator would see.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Sample is one line of a scrape: a series and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Scrape is what one GET /metrics returned.
type Scrape struct {
	Text    string
	Samples []Sample
	// Types are the metric families' # TYPE lines: name → counter, gauge,
	// histogram, summary, untyped.
	Types map[string]string
}

// Get scrapes h at /metrics.
func Get(t testing.TB, h http.Handler) Scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body.String())
	}
	return parse(t, rec.Body.String())
}

// GetURL scrapes a running server at url (http://host:port/metrics).
func GetURL(t testing.TB, url string) Scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, b)
	}
	return parse(t, string(b))
}

func parse(t testing.TB, text string) Scrape {
	t.Helper()
	s := Scrape{Text: text, Types: map[string]string{}}
	for n, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			s.Types[f[2]] = f[3]
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		smp, err := parseSample(line)
		if err != nil {
			t.Fatalf("/metrics line %d %q: %v", n+1, line, err)
		}
		s.Samples = append(s.Samples, smp)
	}
	return s
}

// parseSample reads name{label="value",...} value [timestamp].
func parseSample(line string) (Sample, error) {
	smp := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return smp, fmt.Errorf("no metric name")
	}
	smp.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, ", ")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return smp, fmt.Errorf("bad label at %q", line)
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
					if line[j] == 'n' {
						val.WriteByte('\n')
						continue
					}
				}
				val.WriteByte(line[j])
			}
			if j == len(line) {
				return smp, fmt.Errorf("unterminated label value")
			}
			smp.Labels[key] = val.String()
			line = line[j+1:]
		}
	}
	f := strings.Fields(line)
	if len(f) < 1 {
		return smp, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return smp, err
	}
	smp.Value = v
	return smp, nil
}

// Value is the value of the series name with exactly these labels
// (pairs: key, value, ...); ok is false when the scrape has none.
func (s Scrape) Value(name string, labels ...string) (v float64, ok bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, smp := range s.Samples {
		if smp.Name != name || len(smp.Labels) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if got, has := smp.Labels[k]; !has || got != v {
				match = false
				break
			}
		}
		if match {
			return smp.Value, true
		}
	}
	return 0, false
}

// Sum adds the values of every series of name whose labels include these
// (pairs: key, value, ...).
func (s Scrape) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, smp := range s.Samples {
		if smp.Name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if smp.Labels[labels[i]] != labels[i+1] {
				match = false
				break
			}
		}
		if match {
			sum += smp.Value
		}
	}
	return sum
}

// Names are the series names the scrape has (a histogram's _bucket, _sum
// and _count each), sorted.
func (s Scrape) Names() []string {
	var out []string
	for _, smp := range s.Samples {
		out = append(out, smp.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Has reports whether the scrape has a series named name.
func (s Scrape) Has(name string) bool {
	_, found := slices.BinarySearch(s.Names(), name)
	return found
}
