// Command cosignpeer checks tallylog's C2SP tlog-cosignature (cosignature/v1) with Go:
// the Go team's golang.org/x/mod/sumdb/note parses and verifies the signed notes, Go's
// crypto/ed25519 signs and verifies, and the cosignature/v1 key ID and signed message are
// written here from the spec (c2sp.org/tlog-cosignature), not from tallylog's code.
//
// Usage:
//
//	cosignpeer verify -log VKEY -witness WVKEY [-witness WVKEY] < note
//	cosignpeer sign -name NAME -seed HEX -time T < checkpoint text
//
// verify opens the note with note.Open, the log's verifier key and the witnesses' keys
// (signature type 0x04), and prints the names of the verified signers, one a line.
// sign prints the witness's verifier key, then the note signed by the witness alone
// (note.Sign), with a cosignature of the given time.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const algCosignatureV1 = 0x04

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cosignpeer: "+format+"\n", args...)
	os.Exit(1)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// keyHash is SHA-256(name || "\n" || 0x04 || key)[:4] (tlog-cosignature, Format).
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algCosignatureV1})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// message is "cosignature/v1\ntime T\n" and the whole checkpoint body
// (tlog-cosignature, Ed25519 signed message).
func message(t uint64, body []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), body...)
}

type cosigner struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	time uint64
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }

func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 {
		return false
	}
	return ed25519.Verify(c.pub, message(t, msg), sig[8:])
}

func (c *cosigner) Sign(msg []byte) ([]byte, error) {
	sig := binary.BigEndian.AppendUint64(nil, c.time)
	return append(sig, ed25519.Sign(c.priv, message(c.time, msg))...), nil
}

func parseWitness(vkey string) (*cosigner, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed witness key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != algCosignatureV1 {
		return nil, errors.New("not a cosignature/v1 key")
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, err
	}
	c := &cosigner{name: parts[0], pub: ed25519.PublicKey(raw[1:])}
	c.hash = keyHash(c.name, c.pub)
	if uint32(id) != c.hash {
		return nil, errors.New("key ID does not match")
	}
	return c, nil
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: cosignpeer verify|sign [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	logKey := fs.String("log", "", "the log's verifier key")
	var witnesses multi
	fs.Var(&witnesses, "witness", "a witness verifier key (repeatable)")
	name := fs.String("name", "", "the witness name (sign)")
	seedHex := fs.String("seed", "", "the 32-byte Ed25519 seed, hex (sign)")
	t := fs.Uint64("time", 0, "the cosignature timestamp (sign)")
	fs.Parse(os.Args[2:])
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("%v", err)
	}
	switch os.Args[1] {
	case "verify":
		v, err := note.NewVerifier(*logKey)
		if err != nil {
			fail("log key: %v", err)
		}
		vs := []note.Verifier{v}
		for _, w := range witnesses {
			c, err := parseWitness(w)
			if err != nil {
				fail("witness key %s: %v", w, err)
			}
			vs = append(vs, c)
		}
		n, err := note.Open(in, note.VerifierList(vs...))
		if err != nil {
			fail("note.Open: %v", err)
		}
		for _, s := range n.Sigs {
			fmt.Println(s.Name)
		}
	case "sign":
		seed, err := hex.DecodeString(*seedHex)
		if err != nil || len(seed) != ed25519.SeedSize {
			fail("bad seed")
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		c := &cosigner{name: *name, hash: keyHash(*name, pub), pub: pub, priv: priv, time: *t}
		fmt.Printf("%s+%08x+%s\n", c.name, c.hash, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
		out, err := note.Sign(&note.Note{Text: string(in)}, c)
		if err != nil {
			fail("note.Sign: %v", err)
		}
		os.Stdout.Write(out)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
