// Package yamlconf reads YAML files written by people into Go structs,
// strictly, and says precisely what is wrong with them.
//
// It sits on goccy/go-yaml's AST rather than on its decoder, so that:
//
//   - every problem is reported at once, each as file:line:col: path: message
//     ([Error], joined and sorted by [Join]);
//   - unknown keys are errors that list the allowed keys and suggest the
//     nearest one ("did you mean encrypted?");
//   - anchors, aliases and merge keys (<<: *base, <<: [*a, *b]) are resolved
//     here, with a bound on how far aliases may expand (no alias bombs);
//   - a plain scalar with a colon inside [...] or {...}, which goccy/go-yaml
//     v1.19 silently splits into a mapping, is refused with a quoting hint;
//   - the parser is never allowed to crash the program (panics become errors);
//   - after decoding, [Positions] still knows where every value was written, so
//     checks that run on the decoded structs can point at the file too.
//
// The flow: [Parse] turns bytes into a [Node] tree; a [Decoder] fills a struct
// from it by its yaml tags (with hooks for types that need their own reading)
// and records positions; domain checks then report through a [Report], which
// skips values whose decoding already failed.
package yamlconf

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a YAML file. Functions of this package return many
// of them joined with errors.Join (see [Join]); errors.As finds the first.
type Error struct {
	// File is the file name given to Parse; may be empty.
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Path locates the value, e.g. accounts[1].images[0].encrypted or
	// tags["aws:x"]; empty for YAML syntax errors.
	Path string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
}

// Error formats the problem as file:line:col: path: message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Join sorts problems by position (unknown positions last, otherwise in the
// order given), drops exact repeats and joins them with errors.Join, one per
// line; nil when there are none. list is sorted in place.
func Join(list []*Error) error {
	if len(list) == 0 {
		return nil
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	errs := make([]error, 0, len(list))
	seen := map[string]bool{}
	for _, e := range list {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// Report collects the problems found in one file by checks that run after
// decoding. Its zero value works; with Pos nil (a value built in Go rather
// than read from a file) errors name the path only.
type Report struct {
	// File is put in every error.
	File string
	// Pos says where values were written and which failed to decode; may be
	// nil.
	Pos  *Positions
	errs []*Error
}

// Errorf reports a problem with the value at path, at the place it (or its
// nearest written ancestor) was written. It is dropped when decoding already
// failed at path or at one of its ancestors: the problem there was reported
// and this one would only follow from it.
func (r *Report) Errorf(path, format string, args ...any) {
	r.report(path, false, format, args...)
}

// KeyErrorf is Errorf for a problem with a mapping key itself (an unknown
// tag key, say): it is reported where the key, not its value, was written.
func (r *Report) KeyErrorf(path, format string, args ...any) {
	r.report(path, true, format, args...)
}

func (r *Report) report(path string, atKey bool, format string, args ...any) {
	if r.Pos.FailedWithin(path) {
		return
	}
	e := &Error{File: r.File, Path: path, Message: fmt.Sprintf(format, args...)}
	if line, col, ok := r.Pos.Key(path); atKey && ok {
		e.Line, e.Column = line, col
	} else if line, col, ok := r.Pos.Find(path); ok {
		e.Line, e.Column = line, col
	}
	r.errs = append(r.errs, e)
}

// Add appends problems as they are (an error about something other than
// the file, a command-line flag say, has no File).
func (r *Report) Add(errs ...*Error) {
	r.errs = append(r.errs, errs...)
}

// Errors returns the problems reported so far, in the order reported.
func (r *Report) Errors() []*Error { return r.errs }

// Len is the number of problems reported so far.
func (r *Report) Len() int { return len(r.errs) }

// Err returns every problem, sorted and joined (see [Join]); nil when none.
func (r *Report) Err() error { return Join(r.errs) }

// Where describes a place for notes such as "(first at targets[0].account,
// line 12)": the path, and its line when known.
func (r *Report) Where(path string) string { return r.Pos.Where(path) }
