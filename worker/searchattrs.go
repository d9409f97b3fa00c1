package worker

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/workflows"
)

// SearchAttributesError says a namespace lacks search attributes amicrypt's
// workflows set (workflows.SearchAttributes), or has one of another type,
// and how to create them.
type SearchAttributesError struct {
	Namespace string
	// Address is the Temporal frontend the commands name; "" leaves
	// --address out.
	Address string
	// Missing are the names the namespace lacks; WrongType those it has
	// with another type (name → its type).
	Missing   []string
	WrongType map[string]enumspb.IndexedValueType
}

func (e *SearchAttributesError) Error() string {
	var b strings.Builder
	if len(e.Missing) > 0 {
		fmt.Fprintf(&b, "namespace %s lacks amicrypt's search attributes %s (Keyword): amicrypt's workflows set them, and a workflow task setting one the namespace lacks fails, and is retried, until it exists. "+
			"Create them (with your TLS or API key flags, if any):\n  %s\nor, on Temporal Cloud:\n  %s",
			e.Namespace, strings.Join(e.Missing, ", "), CreateSearchAttributesCommand(e.Namespace, e.Address, e.Missing), CloudSearchAttributesCommand(e.Namespace, e.Missing))
	}
	for _, name := range sortedNames(e.WrongType) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "namespace %s has the search attribute %s as %s, amicrypt sets it as Keyword: remove it (temporal operator search-attribute remove --namespace %s --name %s) and create it as Keyword",
			e.Namespace, name, e.WrongType[name], e.Namespace, name)
	}
	return b.String()
}

// CreateSearchAttributesCommand is the Temporal CLI command that creates
// the named search attributes (all Keyword) in namespace.
func CreateSearchAttributesCommand(namespace, address string, names []string) string {
	cmd := "temporal operator search-attribute create"
	if address != "" {
		cmd += " --address " + address
	}
	cmd += " --namespace " + namespace
	for _, n := range names {
		cmd += " --name " + n + " --type Keyword"
	}
	return cmd
}

// CloudSearchAttributesCommand is the tcld command that adds the named
// search attributes (all Keyword) to a Temporal Cloud namespace.
func CloudSearchAttributesCommand(namespace string, names []string) string {
	cmd := "tcld namespace search-attributes add --namespace " + namespace
	for _, n := range names {
		cmd += " --search-attribute " + n + "=Keyword"
	}
	return cmd
}

// CheckSearchAttributes reads namespace's search attributes (the operator
// service's ListSearchAttributes) and returns a *SearchAttributesError when
// amicrypt's are not all there as Keyword attributes; another error when it
// could not read them (a cluster may not let the worker's identity call the
// operator service).
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace, address string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("reading the search attributes of namespace %s: %w", namespace, err)
	}
	have := map[string]enumspb.IndexedValueType{}
	for name, typ := range resp.GetSystemAttributes() {
		have[name] = typ
	}
	for name, typ := range resp.GetCustomAttributes() {
		have[name] = typ
	}
	e := &SearchAttributesError{Namespace: namespace, Address: address, WrongType: map[string]enumspb.IndexedValueType{}}
	for _, k := range workflows.SearchAttributes() {
		typ, ok := have[k.GetName()]
		switch {
		case !ok:
			e.Missing = append(e.Missing, k.GetName())
		case typ != k.GetValueType():
			e.WrongType[k.GetName()] = typ
		}
	}
	if len(e.Missing) == 0 && len(e.WrongType) == 0 {
		return nil
	}
	return e
}

func sortedNames(m map[string]enumspb.IndexedValueType) []string {
	var out []string
	for _, k := range workflows.SearchAttributes() {
		if _, ok := m[k.GetName()]; ok {
			out = append(out, k.GetName())
		}
	}
	return out
}
