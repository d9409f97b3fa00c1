package payloadcodec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, 32)} }

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// What the codec encrypts is unreadable, carries its key's id, and comes
// back whole; a rotated codec (new key first) still reads the old key's.
func TestEncryptDecryptAndRotate(t *testing.T) {
	old, _ := New([]Key{key("k1", 1)})
	secret := "arn:aws:iam::222222222222:role/amicrypt-target ExternalId=xid-5f3a9c"
	enc, err := old.Encode([]*commonpb.Payload{payload(t, secret)})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc[0].Data, []byte("222222222222")) || bytes.Contains(enc[0].Data, []byte("xid-5f3a9c")) {
		t.Fatal("the encrypted payload shows its content")
	}
	if string(enc[0].Metadata[converter.MetadataEncoding]) != Encoding || string(enc[0].Metadata[MetadataKeyID]) != "k1" {
		t.Errorf("metadata %v", enc[0].Metadata)
	}
	rotated, _ := New([]Key{key("k2", 2), key("k1", 1)})
	for name, c := range map[string]*Codec{"the same codec": old, "the rotated codec": rotated} {
		dec, err := c.Decode(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got string
		if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &got); err != nil || got != secret {
			t.Errorf("%s decodes %q, %v", name, got, err)
		}
	}
	again, _ := rotated.Encode([]*commonpb.Payload{payload(t, secret)})
	if id := string(again[0].Metadata[MetadataKeyID]); id != "k2" {
		t.Errorf("the rotated codec encrypts with %s, want its first key k2", id)
	}
	if _, err := old.Decode(again); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("a key the file lacks: %v", err)
	}
	// A payload written before the codec passes as it is.
	plain := payload(t, "before")
	if dec, err := rotated.Decode([]*commonpb.Payload{plain}); err != nil || dec[0] != plain {
		t.Errorf("a plain payload: %v, %v", dec, err)
	}
	// Tampering is detected.
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := old.Decode(enc); err == nil {
		t.Error("a tampered payload decrypts")
	}
}

// Key files: errors name the file and line, never a key.
func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	c, err := Load(write("good", "# current first\n2026-12 "+good+"\n\n2026-06 "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))+"\n"))
	if err != nil || c.keys[0].ID != "2026-12" || len(c.keys) != 2 {
		t.Fatalf("Load: %v %v", c, err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-bytes-16"))
	for name, text := range map[string]string{
		"empty":   "# nothing\n",
		"no id":   good + "\n",
		"short":   "k " + short + "\n",
		"not b64": "k not-base64-at-all!!\n",
		"twice":   "k " + good + "\nk " + good + "\n",
	} {
		_, err := Load(write(name, text))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), short) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
}

// Every client compresses beneath encryption: a run's input — thousands of
// similar target rows — shrinks several times, payloads written before
// decode as they are, and a payload compression would not shrink stays
// plain.
func TestConvertersCompressBeneathEncryption(t *testing.T) {
	type target struct{ Account, Region, RoleARN string }
	var in []target
	for i := range 2000 {
		acct := fmt.Sprintf("%012d", 200000000000+i)
		in = append(in, target{acct, "us-east-1", "arn:aws:iam::" + acct + ":role/amicrypt-target"})
	}
	plain, err := converter.GetDefaultDataConverter().ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	dc, _ := Converters(nil)
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if enc := string(p.Metadata["encoding"]); enc != "binary/zlib" || len(p.Data)*4 > len(plain.Data) {
		t.Errorf("compressed payload: encoding %q, %d bytes (plain %d): want binary/zlib, at least 4 times smaller", enc, len(p.Data), len(plain.Data))
	}
	var back []target
	if err := dc.FromPayload(p, &back); err != nil || len(back) != len(in) || back[1999] != in[1999] {
		t.Fatalf("round trip: %v, %d rows", err, len(back))
	}
	var old []target
	if err := dc.FromPayload(plain, &old); err != nil || len(old) != len(in) {
		t.Errorf("a payload written before compression: %v", err)
	}
	small, _ := dc.ToPayload("ok")
	if string(small.Metadata["encoding"]) == "binary/zlib" {
		t.Error("a tiny payload was compressed, and grew")
	}

	codec, err := New([]Key{{ID: "k1", Secret: bytes.Repeat([]byte{9}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	edc, _ := Converters(codec)
	e, err := edc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Metadata["encoding"]) != Encoding || len(e.Data)*4 > len(plain.Data) {
		t.Errorf("encrypted payload: encoding %q, %d bytes (plain %d): want %s over compression", e.Metadata["encoding"], len(e.Data), len(plain.Data), Encoding)
	}
	back = nil
	if err := edc.FromPayload(e, &back); err != nil || len(back) != len(in) {
		t.Fatalf("encrypted round trip: %v", err)
	}
}

// The pooled compression writes what Temporal's zlib codec writes, reads
// what it wrote, and keeps a payload that compression does not shrink as
// it is — from many goroutines at once, as a worker encodes.
func TestCompressionIsTemporalsZlibCodec(t *testing.T) {
	sdk := converter.NewZlibCodec(converter.ZlibCodecOptions{})
	dc := converter.GetDefaultDataConverter()
	big, err := dc.ToPayload(map[string]any{"accounts": strings.Repeat(`"222222222222",`, 500)})
	if err != nil {
		t.Fatal(err)
	}
	small, err := dc.ToPayload("x")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				ours, err := Compression.Encode([]*commonpb.Payload{big, small})
				if err != nil {
					t.Error(err)
					return
				}
				theirs, _ := sdk.Encode([]*commonpb.Payload{big, small})
				if !proto.Equal(ours[0], theirs[0]) || ours[1] != small {
					t.Error("the pooled codec's payloads differ from Temporal's zlib codec's")
					return
				}
				back, err := sdk.Decode(ours)
				if err != nil || !proto.Equal(back[0], big) {
					t.Errorf("Temporal's codec does not read ours back: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
