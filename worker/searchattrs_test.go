package worker

import (
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
)

// The error names what is missing and the exact commands that create it.
func TestSearchAttributesErrorNamesTheCommands(t *testing.T) {
	e := &SearchAttributesError{Namespace: "payments.a1b2c", Address: "payments.a1b2c.tmprl.cloud:7233",
		Missing: []string{"AmicryptStep", "AmicryptDiagnosis"}, WrongType: map[string]enumspb.IndexedValueType{"AmicryptRun": enumspb.INDEXED_VALUE_TYPE_TEXT}}
	msg := e.Error()
	for _, want := range []string{
		"namespace payments.a1b2c lacks amicrypt's search attributes AmicryptStep, AmicryptDiagnosis",
		"temporal operator search-attribute create --address payments.a1b2c.tmprl.cloud:7233 --namespace payments.a1b2c --name AmicryptStep --type Keyword --name AmicryptDiagnosis --type Keyword\n",
		"tcld namespace search-attributes add --namespace payments.a1b2c --search-attribute AmicryptStep=Keyword --search-attribute AmicryptDiagnosis=Keyword",
		"has the search attribute AmicryptRun as Text, amicrypt sets it as Keyword",
		"temporal operator search-attribute remove --namespace payments.a1b2c --name AmicryptRun",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error lacks %q:\n%s", want, msg)
		}
	}
}
