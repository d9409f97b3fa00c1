// Package payloadcodec encrypts what amicrypt hands Temporal: every
// payload — workflow and activity inputs and results, heartbeat details,
// query answers, memos — and the messages of failures, with AES-256-GCM
// under a key named by an id, so Temporal's histories hold no account id,
// role ARN or ExternalId in the clear. Several keys may be given: the first
// encrypts, every one decrypts (rotation: add the new key first, keep the
// old ones while histories written under them are read).
//
// It is a converter.PayloadCodec (the Temporal SDK's extension point),
// composed into the client's data and failure converters (DataConverter)
// and served to the web UI and the Temporal CLI by 'amicrypt codec-server'
// (converter.NewPayloadCodecHTTPHandler).
package payloadcodec

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the payload's "encoding" metadata once encrypted.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted it.
	MetadataKeyID = "encryption-key-id"
)

// Key is one AES-256 key and its id.
type Key struct {
	ID     string
	Secret []byte // 32 bytes
}

// Codec encrypts with its first key and decrypts with any.
type Codec struct {
	keys  []Key
	aeads map[string]cipher.AEAD
}

// New makes a codec of keys (the first encrypts).
func New(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("no payload key given")
	}
	c := &Codec{keys: keys, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if k.ID == "" || strings.ContainsAny(k.ID, " \t") {
			return nil, fmt.Errorf("payload key id %q: use a word without spaces", k.ID)
		}
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("payload key %s is %d bytes: AES-256 needs 32 (openssl rand -base64 32)", k.ID, len(k.Secret))
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("payload key id %s is given twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		c.aeads[k.ID] = aead
	}
	return c, nil
}

// Load reads a key file: one key per line, "ID BASE64" (32 bytes once
// decoded), the first line's key encrypting; blank lines and # comments are
// skipped. Errors name the file and line, never a key.
func Load(path string) (*Codec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("payload key file: %w", err)
	}
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("payload key file %s:%d: expected \"ID BASE64-KEY\"", path, n)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secret))
		if err != nil {
			return nil, fmt.Errorf("payload key file %s:%d: the key of %s is not base64", path, n, id)
		}
		keys = append(keys, Key{ID: id, Secret: raw})
	}
	c, err := New(keys)
	if err != nil {
		return nil, fmt.Errorf("payload key file %s: %w", path, err)
	}
	return c, nil
}

// Encode encrypts each payload (the whole payload, metadata included) with
// the first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	k := c.keys[0]
	aead := c.aeads[k.ID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(k.ID)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(k.ID)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads this codec's keys encrypted; others pass
// unchanged (histories written before the codec was turned on).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("a payload is encrypted with key %q, which the payload key file does not hold: add it (old keys stay, after the current one)", id)
		}
		n := aead.NonceSize()
		if len(p.Data) < n {
			return nil, fmt.Errorf("a payload encrypted with key %q is truncated", id)
		}
		plain, err := aead.Open(nil, p.Data[:n], p.Data[n:], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("a payload encrypted with key %q does not decrypt: %w", id, err)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, err
		}
		out[i] = &dec
	}
	return out, nil
}

// Compression is the codec every amicrypt client applies beneath
// encryption: zlib, kept only where it makes a payload smaller (a run's
// inputs and reports — lists of accounts, regions and role ARNs — shrink
// several times). Payloads written without it still decode.
var Compression converter.PayloadCodec = pooledZlib{}

// pooledZlib is Temporal's zlib codec (converter.NewZlibCodec: the same
// bytes, metadata encoding binary/zlib, kept only where smaller) with its
// compressors reused: the SDK's makes a new one per payload, about 1 MB
// each, which was a third of a 1,000-target run's worker heap in use and
// most of what its garbage collector had to chase. Decoding is the SDK's.
type pooledZlib struct{}

var (
	sdkZlib     = converter.NewZlibCodec(converter.ZlibCodecOptions{})
	compressors = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}
)

func (pooledZlib) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		b, err := proto.Marshal(p)
		if err != nil {
			return payloads, err
		}
		var buf bytes.Buffer
		w := compressors.Get().(*zlib.Writer)
		w.Reset(&buf)
		_, err = w.Write(b)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		compressors.Put(w)
		if err != nil {
			return payloads, err
		}
		if buf.Len() < len(b) {
			out[i] = &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/zlib")}, Data: buf.Bytes()}
		} else {
			out[i] = p
		}
	}
	return out, nil
}

func (pooledZlib) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return sdkZlib.Decode(payloads)
}

// Codecs are the payload codecs of a client, in the order
// converter.NewCodecDataConverter and the codec server take them:
// encryption with c (nil: none) over compression.
func Codecs(c *Codec) []converter.PayloadCodec {
	if c == nil {
		return []converter.PayloadCodec{Compression}
	}
	return []converter.PayloadCodec{c, Compression}
}

// Converters are a client's data and failure converters: Temporal's
// default converter under Codecs(c). With encryption, failures' messages
// and stack traces are encoded too (a diagnosis names accounts and roles).
func Converters(c *Codec) (converter.DataConverter, converter.FailureConverter) {
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codecs(c)...)
	return dc, temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: c != nil})
}
