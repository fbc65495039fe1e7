// Command tlogpeer checks a log written by tallylog with the Go team's own transparency-log
// code (golang.org/x/mod/sumdb/tlog and note), an implementation independent of ours.
//
// Usage:
//
//	tlogpeer audit -dir DIR -vkey VKEY [-indexes 0,5,9] [-old-sizes 1,2,3] [-check FILE]
//	tlogpeer sign -skey FILE < text
//
// audit opens DIR/checkpoint with note.Open and the verifier key VKEY; parses the C2SP
// tlog-checkpoint body; recomputes the tree from the entry bundles (tile/entries/N) with
// tlog.StoredHashesForRecordHash and compares tlog.TreeHash with the signed root; checks
// every hash tile we wrote (tile/L/N, tile/L/N.p/W) byte for byte against tlog.ReadTileData;
// reads our tiles through tlog.TileHashReader (which authenticates them against the root);
// checks the proofs tallylog produced (-check, JSON as written by the interop test) with
// tlog.CheckRecord and tlog.CheckTree; and prints JSON with Go's own inclusion proofs for
// -indexes and consistency proofs from -old-sizes, for tallylog to check.
//
// sign signs the text on standard input as a note with a signer key file
// (PRIVATE+KEY+name+hexid+base64) and prints the signed note.
//
// Errors go to standard error with exit status 1.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogpeer: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: tlogpeer audit|sign [flags]")
	}
	switch os.Args[1] {
	case "audit":
		audit(os.Args[2:])
	case "sign":
		sign(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}

func sign(args []string) {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	skeyFile := fs.String("skey", "", "signer key file")
	fs.Parse(args)
	skey, err := os.ReadFile(*skeyFile)
	if err != nil {
		fail("%v", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		fail("signer key: %v", err)
	}
	text, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("%v", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		fail("sign: %v", err)
	}
	os.Stdout.Write(msg)
}

// ourPath is the C2SP tlog-tiles path of t: Go's path without the height segment, and
// "entries" where Go writes "data".
func ourPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if t.L == -1 {
		p = strings.Replace(p, "data/", "entries/", 1)
	}
	return "tile/" + p
}

// dirTiles reads our hash tiles from a directory for tlog.TileHashReader.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return height }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := os.ReadFile(filepath.Join(d.dir, ourPath(t)))
		if err != nil {
			return nil, err
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", ourPath(t), len(data), t.W*tlog.HashSize)
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// memHashes is every stored hash, in tlog.StoredHashIndex order.
type memHashes []tlog.Hash

func (m *memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(*m)) {
			return nil, fmt.Errorf("stored hash %d not computed", x)
		}
		out[i] = (*m)[x]
	}
	return out, nil
}

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, decimal size, base64 root,
// then optional extension lines.
func parseCheckpoint(text string) (string, tlog.Tree) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		fail("checkpoint body has fewer than three lines")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		fail("checkpoint size %q is not a canonical decimal", lines[1])
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint root %q: %v", lines[2], err)
	}
	return lines[0], tlog.Tree{N: n, Hash: h}
}

func parseInts(s string) []int64 {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			fail("bad number %q", f)
		}
		out = append(out, n)
	}
	return out
}

// readEntries parses the entry bundles of a tree of size n: each entry a big-endian uint16
// length followed by its bytes (C2SP tlog-tiles), and returns the record hash of each.
func readEntries(dir string, n int64) []tlog.Hash {
	hashes := make([]tlog.Hash, 0, n)
	for start := int64(0); start < n; start += 1 << height {
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: 1 << height}
		if n-start < 1<<height {
			t.W = int(n - start)
		}
		path := ourPath(t)
		data, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			fail("%v", err)
		}
		for i := 0; i < t.W; i++ {
			if len(data) < 2 {
				fail("%s: bundle ends after %d entries, want %d", path, i, t.W)
			}
			size := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+size {
				fail("%s: entry %d truncated", path, i)
			}
			hashes = append(hashes, tlog.RecordHash(data[2:2+size]))
			data = data[2+size:]
		}
		if len(data) != 0 {
			fail("%s: %d bytes after the last entry", path, len(data))
		}
	}
	return hashes
}

type inclusion struct {
	Index    int64    `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	Proof    []string `json:"proof"`
}

type consistency struct {
	OldSize int64    `json:"old_size"`
	OldRoot string   `json:"old_root"`
	Proof   []string `json:"proof"`
}

type proofs struct {
	Origin      string        `json:"origin"`
	Size        int64         `json:"size"`
	Root        string        `json:"root"`
	TilesOK     int           `json:"tiles_checked"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

func b64(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func unb64(ss []string) []tlog.Hash {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := tlog.ParseHash(s)
		if err != nil {
			fail("proof hash %q: %v", s, err)
		}
		out[i] = h
	}
	return out
}

func audit(args []string) {
	fs := flag.NewFlagSet("audit", flag.ExitOnError)
	dir := fs.String("dir", "", "log directory")
	vkey := fs.String("vkey", "", "verifier key")
	indexes := fs.String("indexes", "", "comma-separated entry indexes to prove")
	oldSizes := fs.String("old-sizes", "", "comma-separated tree sizes to prove consistency from")
	check := fs.String("check", "", "JSON file of tallylog proofs to check")
	fs.Parse(args)

	// The signed checkpoint, opened by Go's note package with our verifier key.
	verifier, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(filepath.Join(*dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	origin, tree := parseCheckpoint(n.Text)
	if origin != verifier.Name() {
		fail("checkpoint origin %q is not the key name %q", origin, verifier.Name())
	}

	// The tree recomputed from the entries alone.
	var stored memHashes
	for i, h := range readEntries(*dir, tree.N) {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), h, &stored)
		if err != nil {
			fail("StoredHashesForRecordHash(%d): %v", i, err)
		}
		stored = append(stored, hs...)
	}
	root, err := tlog.TreeHash(tree.N, &stored)
	if err != nil {
		fail("TreeHash: %v", err)
	}
	if root != tree.Hash {
		fail("tree hash from the entries %v != signed root %v", root, tree.Hash)
	}

	// Every full tile and each level's final partial tile, byte for byte.
	checked := 0
	for _, t := range tlog.NewTiles(height, 0, tree.N) {
		last := tree.N >> uint(height*t.L)
		if t.W != 1<<height && t.N<<height+int64(t.W) != last {
			continue // an intermediate partial width, not published at this size
		}
		want, err := tlog.ReadTileData(t, &stored)
		if err != nil {
			fail("ReadTileData(%s): %v", t.Path(), err)
		}
		got, err := os.ReadFile(filepath.Join(*dir, ourPath(t)))
		if err != nil {
			fail("%v", err)
		}
		if string(got) != string(want) {
			fail("tile %s differs from Go's", ourPath(t))
		}
		checked++
	}

	// Our tiles through Go's authenticating reader.
	thr := tlog.TileHashReader(tree, dirTiles{*dir})
	if h, err := tlog.TreeHash(tree.N, thr); err != nil || h != tree.Hash {
		fail("TreeHash over our tiles: %v %v", h, err)
	}
	out := proofs{Origin: origin, Size: tree.N, Root: tree.Hash.String(), TilesOK: checked}
	for _, i := range parseInts(*indexes) {
		p, err := tlog.ProveRecord(tree.N, i, thr)
		if err != nil {
			fail("ProveRecord(%d, %d): %v", tree.N, i, err)
		}
		leaf := stored[tlog.StoredHashIndex(0, i)]
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, leaf); err != nil {
			fail("Go's own record proof %d: %v", i, err)
		}
		out.Inclusion = append(out.Inclusion, inclusion{i, leaf.String(), b64(p)})
	}
	for _, m := range parseInts(*oldSizes) {
		p, err := tlog.ProveTree(tree.N, m, thr)
		if err != nil {
			fail("ProveTree(%d, %d): %v", tree.N, m, err)
		}
		old, err := tlog.TreeHash(m, &stored)
		if err != nil {
			fail("TreeHash(%d): %v", m, err)
		}
		out.Consistency = append(out.Consistency, consistency{m, old.String(), b64(p)})
	}

	// Proofs that tallylog produced, checked by Go.
	if *check != "" {
		data, err := os.ReadFile(*check)
		if err != nil {
			fail("%v", err)
		}
		var theirs proofs
		if err := json.Unmarshal(data, &theirs); err != nil {
			fail("%s: %v", *check, err)
		}
		for _, p := range theirs.Inclusion {
			leaf := unb64([]string{p.LeafHash})[0]
			if err := tlog.CheckRecord(unb64(p.Proof), tree.N, tree.Hash, p.Index, leaf); err != nil {
				fail("tallylog inclusion proof for %d: %v", p.Index, err)
			}
		}
		for _, p := range theirs.Consistency {
			old := unb64([]string{p.OldRoot})[0]
			if err := tlog.CheckTree(unb64(p.Proof), tree.N, tree.Hash, p.OldSize, old); err != nil {
				fail("tallylog consistency proof from %d: %v", p.OldSize, err)
			}
		}
		if len(theirs.Inclusion)+len(theirs.Consistency) == 0 {
			fail("%s holds no proofs", *check)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("writing output: %v", err)
	}
}
