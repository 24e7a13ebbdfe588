package conformance_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStoreIntegrityBitFlips flips one bit at a random offset of each kind
// of file Badger writes — value log, write-ahead log (.mem), table (.sst),
// MANIFEST — over many seeds, in copies of a node killed mid-life, and
// asserts that no flip yields a changed answer: `cpx store verify`
// reports it, or the node refuses to start, or a read fails, or every
// answer is the one the untouched copy gives.
func TestStoreIntegrityBitFlips(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: many copies of a node")
	}
	seeds := 8
	if s := os.Getenv("CPX_FLIP_SEEDS"); s != "" {
		fmt.Sscan(s, &seeds)
	}
	dir := initNode(t, "agency-f")
	n := start(t, dir)
	token := addUser(t, dir, "amina", "caseworker", "--group", "g1")
	env := func(n *node) []string { return []string{"CPX_API=" + n.url, "CPX_TOKEN=" + token} }
	var ids []string
	create := func(n *node, i int, long bool) {
		addr := "Block 7, Hargeisa"
		if long { // above the value threshold: the record goes to the value log
			addr = strings.Repeat(fmt.Sprintf("Block %d near the water point, Hargeisa. ", i), 60)
		}
		r := cpx(t, env(n), "case", "create", "--form", "registration", "--set", fmt.Sprintf("name_first=Child%d", i),
			"--set", "name_last=Hassan", "--set", "sex=female", "--set", fmt.Sprintf("age=%d", 3+i%12),
			"--set", "address_current="+addr, "-o", "json")
		var c struct {
			Case struct {
				ID string `json:"id"`
			} `json:"case"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &c) != nil || c.Case.ID == "" {
			t.Fatalf("case create: exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		ids = append(ids, c.Case.ID)
	}
	for i := range 15 {
		create(n, i, i%3 == 0)
	}
	n.stop(t) // the memtable goes to a table
	n = start(t, dir)
	for i := 15; i < 30; i++ {
		create(n, i, i%2 == 0)
	}
	n.kill() // the rest stays in the write-ahead and value logs

	answers := func(d string) (map[string]string, bool) {
		n := start(t, d)
		defer n.stop(t)
		got := map[string]string{}
		for _, id := range ids {
			r := cpx(t, env(n), "case", "get", id, "-o", "json")
			if r.code == 3 { // a record that vanished is a changed answer
				got[id] = "not found"
				continue
			}
			if r.code != 0 {
				got[id] = "error"
				continue
			}
			got[id] = r.stdout
		}
		r := cpx(t, nil, "user", "list", "--dir", d, "-o", "json")
		got["users"] = r.stdout
		return got, r.code == 0
	}
	if r := cpx(t, nil, "store", "verify", "--dir", copyNode(t, dir)); r.code != 0 {
		t.Fatalf("store verify fails on an untouched copy: %s%s", r.stdout, r.stderr)
	}
	base := copyNode(t, dir)
	want, ok := answers(base)
	if !ok || slices.Contains(slices.Collect(mapValues(want)), "error") {
		t.Fatalf("the untouched copy does not answer: %v", want)
	}

	kinds := map[string]func(string) bool{
		"vlog":     func(f string) bool { return strings.HasSuffix(f, ".vlog") },
		"wal":      func(f string) bool { return strings.HasSuffix(f, ".mem") },
		"table":    func(f string) bool { return strings.HasSuffix(f, ".sst") },
		"manifest": func(f string) bool { return f == "MANIFEST" },
	}
	for _, kind := range []string{"vlog", "wal", "table", "manifest"} {
		t.Run(kind, func(t *testing.T) {
			var files []string
			ents, _ := os.ReadDir(filepath.Join(dir, "data"))
			for _, e := range ents {
				if kinds[kind](e.Name()) && written(t, filepath.Join(dir, "data", e.Name())) > 20 {
					files = append(files, e.Name())
				}
			}
			if len(files) == 0 {
				t.Fatalf("no %s file with data in %s", kind, dir)
			}
			outcomes := map[string]int{}
			for seed := range seeds {
				rnd := rand.New(rand.NewPCG(uint64(seed), 18))
				d := copyNode(t, dir)
				f := filepath.Join(d, "data", files[rnd.IntN(len(files))])
				// Mostly within the written part of a (sparse) log, sometimes anywhere.
				end := written(t, f)
				if st, _ := os.Stat(f); seed%4 == 3 {
					end = st.Size()
				}
				off := rnd.Int64N(end)
				bit := byte(1) << rnd.IntN(8)
				flipBit(t, f, off, bit)
				what := fmt.Sprintf("seed %d: %s offset %d bit %#x", seed, filepath.Base(f), off, bit)

				// The operator may run verify or not: whatever verify says,
				// the node must not answer differently.
				if r := cpx(t, nil, "store", "verify", "--dir", copyNode(t, d)); r.code != 0 {
					outcomes["verify reports it"]++
				}
				if refusesToStart(t, d) {
					outcomes["node refuses to start"]++
					continue
				}
				got, _ := answers(d)
				changed := false
				for k, w := range want {
					if g := got[k]; g != w && g != "error" {
						t.Errorf("%s: changed answer for %s:\n got %s\nwant %s", what, k, g, w)
						changed = true
					}
				}
				if !changed {
					outcomes["answers unchanged or reads fail"]++
				}
			}
			t.Logf("%s: %v", kind, outcomes)
		})
	}
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// copyNode copies a stopped node's directory, keeping sparse files sparse.
func copyNode(t *testing.T, dir string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", "--sparse=always", dir, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	os.Remove(filepath.Join(to, "api.url"))
	return to
}

// written returns the offset just past the last non-zero byte of f,
// skipping the holes of a sparse log.
func written(t *testing.T, f string) int64 {
	t.Helper()
	h, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	st, _ := h.Stat()
	const seekData, seekHole = 3, 4
	last := int64(0)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < st.Size(); {
		d, err := h.Seek(off, seekData)
		if err != nil {
			break
		}
		e, err := h.Seek(d, seekHole)
		if err != nil || e <= d {
			e = st.Size()
		}
		for p := d; p < e; {
			k := min(int64(len(buf)), e-p)
			h.ReadAt(buf[:k], p)
			if j := len(strings.TrimRight(string(buf[:k]), "\x00")); j > 0 {
				last = p + int64(j)
			}
			p += k
		}
		off = e
	}
	return last
}

func flipBit(t *testing.T, f string, off int64, bit byte) {
	t.Helper()
	h, err := os.OpenFile(f, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b := make([]byte, 1)
	if _, err := h.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= bit
	if _, err := h.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// refusesToStart runs cpx start and reports whether it exited with an
// error instead of serving.
func refusesToStart(t *testing.T, d string) bool {
	t.Helper()
	cmd := exec.Command(cpxBin, "start", "--dir", d)
	cmd.Env = append(os.Environ(), "CPX_PASSPHRASE="+passphrase)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for range 300 {
		select {
		case err := <-done:
			return err != nil
		default:
		}
		if _, err := os.Stat(filepath.Join(d, "api.url")); err == nil {
			cmd.Process.Signal(os.Interrupt)
			<-done
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	t.Fatalf("cpx start on %s neither served nor exited", d)
	return false
}
