package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/amicrypt/amicrypt/internal/payloadcodec"
)

// The codec server decodes what the workers encrypted, and lets only the
// web UI's origin call it from a browser.
func TestCodecServerDecodesForTheUIOrigin(t *testing.T) {
	codec, err := payloadcodec.New([]payloadcodec.Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := converter.GetDefaultDataConverter().ToPayload("arn:aws:iam::222222222222:role/amicrypt-target")
	enc, err := codec.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(withUIOrigin("http://localhost:8233", converter.NewPayloadCodecHTTPHandler(payloadcodec.Codecs(codec)...)))
	defer srv.Close()

	body, _ := json.Marshal(map[string]any{"payloads": enc})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://localhost:8233")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(out.Bytes(), []byte(base64.StdEncoding.EncodeToString(p.Data))) {
		t.Errorf("decode: %d %s", resp.StatusCode, out.String())
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:8233" {
		t.Errorf("the UI's origin is not allowed: %q", got)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Origin", "http://attacker.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("another origin is allowed: %q", got)
	}
}
