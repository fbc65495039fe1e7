// Command tlogbuild builds a tiled transparency log with the Go team's tlog package
// (golang.org/x/mod/sumdb/tlog), as the yardstick for tallylog's append benchmark.
//
//	tlogbuild -dir DIR -n 10000000 -batch 4096 -size 100 [-sync=true]
//
// It appends n entries in batches, writing for each batch what tallylog's appender writes:
// the entry bundles (C2SP tlog-tiles, big-endian uint16 length then bytes) and the hash
// tiles of height 8 that the batch completes or extends (full tiles and the new right-edge
// partial tile of each level). With -sync each file is written like a durable store does:
// temporary file, fsync, rename, then one fsync of each touched directory per batch.
// Stored hashes are kept in memory (the fastest Go can do), so memory grows with n.
//
// Entry i is the ASCII text "%010d " of i padded with 'x' to -size bytes, the same as
// bench/bench_tlog.py builds. Prints JSON: {"n", "seconds", "root"}.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func fail(err error) {
	fmt.Fprintf(os.Stderr, "tlogbuild: %v\n", err)
	os.Exit(1)
}

type memHashes []tlog.Hash

func (m *memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = (*m)[x]
	}
	return out, nil
}

func entry(i int64, size int) []byte {
	e := []byte(fmt.Sprintf("%010d ", i))
	for len(e) < size {
		e = append(e, 'x')
	}
	return e
}

func ourPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if t.L == -1 {
		p = strings.Replace(p, "data/", "entries/", 1)
	}
	return "tile/" + p
}

type writer struct {
	root string
	sync bool
	dirs map[string]bool
}

func (w *writer) write(path string, data []byte) {
	full := filepath.Join(w.root, path)
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	tmp := full + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		fail(err)
	}
	if _, err := f.Write(data); err != nil {
		fail(err)
	}
	if w.sync {
		if err := f.Sync(); err != nil {
			fail(err)
		}
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
	if err := os.Rename(tmp, full); err != nil {
		fail(err)
	}
	w.dirs[dir] = true
}

func (w *writer) syncDirs() {
	if w.sync {
		for dir := range w.dirs {
			d, err := os.Open(dir)
			if err != nil {
				fail(err)
			}
			if err := d.Sync(); err != nil {
				fail(err)
			}
			d.Close()
		}
	}
	w.dirs = map[string]bool{}
}

func main() {
	dir := flag.String("dir", "", "output directory")
	n := flag.Int64("n", 1000000, "entries")
	batch := flag.Int64("batch", 4096, "entries per batch")
	size := flag.Int("size", 100, "bytes per entry")
	sync := flag.Bool("sync", true, "fsync like a durable store")
	flag.Parse()

	w := &writer{root: *dir, sync: *sync, dirs: map[string]bool{}}
	var stored memHashes
	var bundle []byte // the entry bundle being filled
	start := time.Now()
	for old := int64(0); old < *n; {
		next := old + *batch
		if next > *n {
			next = *n
		}
		for i := old; i < next; i++ {
			e := entry(i, *size)
			hs, err := tlog.StoredHashes(i, e, &stored)
			if err != nil {
				fail(err)
			}
			stored = append(stored, hs...)
			bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(e)))
			bundle = append(bundle, e...)
			if (i+1)%(1<<height) == 0 || i+1 == next {
				t := tlog.Tile{H: height, L: -1, N: i >> height, W: int(i%(1<<height)) + 1}
				w.write(ourPath(t), bundle)
				if t.W == 1<<height {
					bundle = bundle[:0]
				}
			}
		}
		for _, t := range tlog.NewTiles(height, old, next) {
			if t.W != 1<<height && t.N<<height+int64(t.W) != next>>uint(height*t.L) {
				continue // an intermediate partial width
			}
			data, err := tlog.ReadTileData(t, &stored)
			if err != nil {
				fail(err)
			}
			w.write(ourPath(t), data)
		}
		w.syncDirs()
		old = next
	}
	root, err := tlog.TreeHash(*n, &stored)
	if err != nil {
		fail(err)
	}
	elapsed := time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"n": *n, "seconds": elapsed, "root": root.String(),
	})
}
