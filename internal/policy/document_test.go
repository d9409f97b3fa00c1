package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseErrorsNameStatementAndField(t *testing.T) {
	const ok = `{"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}`
	wrap := func(stmts ...string) string {
		return `{"Version": "2012-10-17", "Statement": [` + strings.Join(stmts, ",") + `]}`
	}
	cases := []struct {
		name, doc, want string
	}{
		{"effect", wrap(ok, ok, `{"Sid": "Allow use of the key", "Effect": "Permit", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}`),
			`statement 2 ("Allow use of the key"): Effect must be "Allow" or "Deny", got "Permit"`},
		{"missing effect without a sid", wrap(`{"Principal": "*", "Action": "kms:Decrypt"}`), `statement 0: Effect is missing`},
		{"principal string", wrap(`{"Sid": "P", "Effect": "Allow", "Principal": "arn:aws:iam::111122223333:root", "Action": "kms:*", "Resource": "*"}`),
			`statement 0 ("P"): Principal must be "*" or an object`},
		{"principal type", wrap(ok, `{"Sid": "P", "Effect": "Allow", "Principal": {"aws": "*"}, "Action": "kms:*", "Resource": "*"}`),
			`statement 1 ("P"): unknown field "aws" in Principal (element names are case-sensitive: did you mean "AWS"?)`},
		{"action without service", wrap(`{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": ["kms:Encrypt", "Decrypt"], "Resource": "*"}`),
			`statement 0 ("A"): Action "Decrypt" must be "*" or "service:action"`},
		{"action not a string", wrap(`{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": ["kms:Encrypt", 7], "Resource": "*"}`),
			`statement 0 ("A"): Action[1] must be a string, got 7`},
		{"empty action list", wrap(`{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}`),
			`statement 0 ("A"): Action must not be an empty list`},
		{"no action", wrap(`{"Sid": "A", "Effect": "Allow", "Principal": "*", "Resource": "*"}`), `statement 0 ("A"): Action (or NotAction) is missing`},
		{"action and notaction", wrap(`{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Decrypt", "Resource": "*"}`),
			`statement 0 ("A"): Action and NotAction cannot both be present`},
		{"unknown operator", wrap(`{"Sid": "C", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"StringEqual": {"kms:ViaService": "x"}}}`),
			`statement 0 ("C"): Condition "StringEqual" is not a condition operator AWS knows`},
		{"condition value object", wrap(`{"Sid": "C", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": {"a": 1}}}}`),
			`statement 0 ("C"): Condition StringEquals "kms:ViaService": values must be strings, booleans or numbers`},
		{"null if exists", wrap(`{"Sid": "C", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"NullIfExists": {"k": "true"}}}`),
			`Null takes no ForAnyValue:/ForAllValues: qualifier and no IfExists`},
		{"lower-case element", wrap(`{"Sid": "E", "effect": "Allow", "Principal": "*", "Action": "kms:*"}`),
			`statement 0 ("E"): unknown field "effect" in statement (element names are case-sensitive: did you mean "Effect"?)`},
		{"duplicate element", wrap(`{"Sid": "D", "Effect": "Allow", "Effect": "Deny", "Principal": "*", "Action": "kms:*"}`),
			`statement 0 ("D"): field "Effect" appears twice`},
		{"sid not a string", wrap(`{"Sid": 3, "Effect": "Allow", "Principal": "*", "Action": "kms:*"}`), `statement 0: Sid must be a string, got 3`},
		{"version", `{"Version": "2012-10-18", "Statement": [` + ok + `]}`, `Version must be "2012-10-17" or "2008-10-17", got "2012-10-18"`},
		{"no statement", `{"Version": "2012-10-17"}`, `policy document has no Statement`},
		{"empty statement list", `{"Version": "2012-10-17", "Statement": []}`, `Statement must hold at least one statement`},
		{"not json", `{"Version": `, `policy document is not valid JSON`},
		{"not an object", `["Statement"]`, `policy document: must be a JSON object`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse accepted %s", tc.doc)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	_, err := Parse([]byte(wrap(ok, `{"Sid": "X", "Effect": "Permit", "Principal": "*", "Action": "kms:*"}`)))
	var se *StatementError
	if !errors.As(err, &se) || se.Index != 1 || se.Sid != "X" {
		t.Errorf("error is not a *StatementError for statement 1 (X): %#v", err)
	}
}

func TestParseForms(t *testing.T) {
	d := mustParse(t, `{"Id": "key-consolepolicy-3", "Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": ["111122223333"], "Service": "ec2.amazonaws.com"},
		"NotAction": "kms:Describe*", "NotResource": ["arn:aws:kms:*:111122223333:key/a", "arn:aws:kms:*:111122223333:key/b"],
		"Condition": {"ForAnyValue:StringLike": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}, "Bool": {"aws:SecureTransport": false}, "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}}`)
	want := &Document{ID: "key-consolepolicy-3", Statements: []Statement{{
		Effect:       Deny,
		NotPrincipal: &Principals{AWS: []string{"111122223333"}, Service: []string{"ec2.amazonaws.com"}},
		NotAction:    []string{"kms:Describe*"},
		NotResource:  []string{"arn:aws:kms:*:111122223333:key/a", "arn:aws:kms:*:111122223333:key/b"},
		Condition: []Condition{
			{Operator: "ForAnyValue:StringLike", Key: "kms:GrantOperations", Values: []string{"Decrypt", "Encrypt"}},
			{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"false"}},
			{Operator: "NumericLessThan", Key: "aws:MultiFactorAuthAge", Values: []string{"3600"}},
		},
	}}}
	got := d.Clone()
	for i := range got.Statements {
		got.Statements[i].raw = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%#v\nwant\n%#v", got.Statements[0], want.Statements[0])
	}
}

func TestMarshalKeepsOwnerStatementsAsWritten(t *testing.T) {
	src := `{"Version":"2012-10-17","Statement":[{"Sid":"Owner","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/Admin"]},"Action":["kms:Create*","kms:Describe*"],"Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true}}}]}`
	d := mustParse(t, src)
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Lists, the boolean and the key order survive.
	for _, want := range []string{`"AWS": [`, `"aws:MultiFactorAuthPresent": true`, `"Action": [`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled policy lost %s:\n%s", want, out)
		}
	}
	// An edited statement is written afresh.
	d.Statements[0].Action = append(d.Statements[0].Action, "kms:Enable*")
	out, err = d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"kms:Enable*"`) {
		t.Errorf("edit lost:\n%s", out)
	}
	again := mustParse(t, string(out))
	if got := again.Statements[0].Action; len(got) != 3 {
		t.Errorf("re-parsed actions %q", got)
	}
}

func TestMarshalRoundTripsRequiredPolicy(t *testing.T) {
	d := RequiredKeyPolicy(RequiredParams{Account: asgAccount, Region: region, PipelineRoleARN: operatorRole})
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(out))
	if !equivalentDocuments(d, back) {
		t.Errorf("round trip changed the policy:\n%s", out)
	}
	if strings.Contains(string(out), `\u003c`) {
		t.Errorf("HTML-escaped output: %s", out)
	}
}

func TestMarshalRefusesAnEmptyPolicy(t *testing.T) {
	if _, err := (&Document{Version: Version2012}).Marshal(); err == nil {
		t.Error("an empty policy was written; AWS would refuse it")
	}
	noPrefix := &Document{Statements: []Statement{{Sid: "S", Effect: Allow, Principal: &Principals{All: true}, Action: []string{"Decrypt"}, Resource: []string{"*"}}}}
	if _, err := noPrefix.Marshal(); err == nil || !strings.Contains(err.Error(), `statement 0 ("S"): Action "Decrypt" must be`) {
		t.Errorf("an action without its service was written: %v", err)
	}
	bad := &Document{Statements: []Statement{{Sid: "S", Effect: "Permit", Action: []string{"kms:*"}}}}
	if _, err := bad.Marshal(); err == nil || !strings.Contains(err.Error(), `statement 0 ("S"): Effect must be`) {
		t.Errorf("bad effect written: %v", err)
	}
}

// equivalentDocuments compares two documents element by element, ignoring
// how they were written.
func equivalentDocuments(a, b *Document) bool {
	if a.Version != b.Version || a.ID != b.ID || len(a.Statements) != len(b.Statements) {
		return false
	}
	for i := range a.Statements {
		if !sameStatement(a.Statements[i], b.Statements[i]) {
			return false
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"Version": "2012-10-17", "Statement": [` + seed003Case1Use + `,` + seed003Case1Attach + `]}`,
		`{"Version": "2012-10-17", "Statement": [` + seed004EBS + `]}`,
		seed002Identity,
		`{"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": "111122223333"}, "NotAction": "kms:Describe*", "Resource": "*", "Condition": {"ForAllValues:StringLikeIfExists": {"kms:GrantOperations": ["Dec?ypt", 1, true]}, "Null": {"k": "true"}}}}`,
		`{"Statement": [{"Sid": "\u003cé\ud83d\ude00", "Effect": "Allow", "Principal": "*", "Action": "*"}]}`,
		`{"Statement": [{"Effect": "Allow", "Principal": {"AWS": []}, "Action": "*"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("parsed document does not marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled document does not parse: %v\n%s", err, out)
		}
		if !equivalentDocuments(d, back) {
			t.Fatalf("round trip changed the document:\n%s", out)
		}
		// Evaluation and lint must not panic on anything that parses.
		EvaluateKMS(d, asgAccount, nil, Request{Principal: developer, Action: "kms:Decrypt", Resource: keyARN, Context: ViaEC2Context(region, asgAccount)})
		Lint(d, asgAccount)
		MergeRequired(d, RequiredKeyPolicy(RequiredParams{Account: asgAccount, Region: region}))
	})
}
