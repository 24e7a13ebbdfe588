package smtp_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/notify"
	"github.com/cpx-node/cpx/node/notify/smtp"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
)

// mailpit starts a real Mailpit on loopback (CPX_MAILPIT_BIN, built by
// .ci/mailpit.sh) and returns its SMTP host and port and its process id.
func mailpit(tb testing.TB) (string, int, int) {
	tb.Helper()
	bin := os.Getenv("CPX_MAILPIT_BIN")
	if bin == "" {
		tb.Skip("CPX_MAILPIT_BIN is not set (bin=$(bash .ci/mailpit.sh | tail -n1))")
	}
	smtpAddr, uiAddr := freeAddr(tb), freeAddr(tb)
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", uiAddr, "--database", filepath.Join(tb.TempDir(), "mailpit.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--quiet")
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + uiAddr + "/api/v1/messages"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatal("mailpit did not start")
		}
	}
	host, port, _ := net.SplitHostPort(smtpAddr)
	p, _ := strconv.Atoi(port)
	return host, p, cmd.Process.Pid
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// queueStore opens a real Badger store (synchronous writes, as a node
// runs) with nUsers users who have an address.
func queueStore(tb testing.TB, nUsers int) store.Store {
	tb.Helper()
	s := badgerStore(tb)
	addUsers(tb, s, nUsers)
	return s
}

func badgerStore(tb testing.TB) store.Store {
	tb.Helper()
	s, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: tb.TempDir(), EncryptionKey: make([]byte, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func addUsers(tb testing.TB, s store.Store, nUsers int) {
	tb.Helper()
	err := s.Update(context.Background(), func(w store.Writer) error {
		for i := range nUsers {
			if _, err := users.Add(w, users.User{Name: fmt.Sprintf("u%d", i), Role: "caseworker", Email: fmt.Sprintf("u%d@agency.example", i)}, time.Now().Add(time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// enqueue queues n notices, a thousand per transaction.
func enqueue(tb testing.TB, s store.Store, q *notify.Queue, from, n, nUsers int) {
	tb.Helper()
	for i := from; i < from+n; i += 1000 {
		err := s.Update(context.Background(), func(w store.Writer) error {
			for j := i; j < min(i+1000, from+n); j++ {
				if err := q.Enqueue(w, casework.Notice{ID: fmt.Sprintf("n%08d", j), Kind: casework.NoticeFlagged, To: fmt.Sprintf("u%d", j%nUsers),
					CaseNumber: fmt.Sprintf("CASE-%06d", j), Actor: "sahra", At: time.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkThroughputMailpit measures notifications delivered per second
// to a real Mailpit on loopback: b.N notices are queued, then the worker
// delivers until every one is recorded as sent. Goal: ≥ 200 messages/s.
// "batch" is the node's way (a batch of 100 over two connections, its
// outcomes in one transaction); "per-message" sends each message over a
// connection of its own, as the worker did first.
//
//	CPX_MAILPIT_BIN=$(bash .ci/mailpit.sh | tail -n1) go test -run '^$' -bench ThroughputMailpit -benchtime 3000x ./node/notify/smtp/
func BenchmarkThroughputMailpit(b *testing.B) {
	host, port, pid := mailpit(b)
	for _, tc := range []struct {
		name  string
		batch bool
	}{{"batch", true}, {"per-message", false}} {
		b.Run(tc.name, func(b *testing.B) {
			const nUsers = 50
			s := queueStore(b, nUsers)
			m, err := smtp.New(smtp.Config{Host: host, Port: port, TLS: smtp.TLSNone, From: "CPX <cpx@agency.example>", Timeout: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			var mailer notify.Mailer = m
			if !tc.batch {
				mailer = onlySend{m}
			}
			tmpl, err := notify.LoadTemplates("")
			if err != nil {
				b.Fatal(err)
			}
			enqueue(b, s, notify.NewQueue(nil), 0, b.N, nUsers)
			wk := notify.NewWorker(notify.WorkerOptions{Store: s, Mailer: mailer, Templates: tmpl})
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			ownCPU, mpCPU := processCPU(0), processCPU(pid)
			// What Run does while batches are full, without its timer.
			for {
				n, err := wk.Deliver(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			b.StopTimer()
			elapsed := time.Since(start)
			own, mp := processCPU(0)-ownCPU, processCPU(pid)-mpCPU
			st, err := notify.ReadStatus(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			if st.Sent != int64(b.N) || st.Queued != 0 {
				b.Fatalf("status = %+v, want all %d sent (last error %q)", st, b.N, st.LastError)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			// CPU time per message, this process's and Mailpit's: what
			// the figure would be on an idle machine does not depend on
			// how busy this one is.
			b.ReportMetric(float64(own.Microseconds())/float64(b.N), "cpu-µs/msg")
			b.ReportMetric(float64(mp.Microseconds())/float64(b.N), "mailpit-cpu-µs/msg")
		})
	}
}

// onlySend hides SendBatch: one connection per message.
type onlySend struct{ m notify.Mailer }

func (o onlySend) Send(ctx context.Context, m notify.Message) error { return o.m.Send(ctx, m) }

// The queue's memory stays flat while 10,000 notifications wait for a
// server that is down: the worker holds one batch at a time, whatever the
// length of the queue. The heap is measured after a collection once the
// 10,000 are queued and after each pass in which every one of them was
// attempted (and failed) again. On the in-memory store, which holds the
// rows in the heap (and they grow a little: attempts, last error), it may
// grow by 8 MiB at most. BenchmarkQueueMemoryServerDown does the same on
// Badger.
func TestQueueMemoryFlatWhileServerDown(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 notifications several times")
	}
	queueMemory(t, memstore.New(), 3, 8<<20)
}

// BenchmarkQueueMemoryServerDown is TestQueueMemoryFlatWhileServerDown on
// Badger, as a node runs, with five passes. The bound is a generous
// 160 MiB because Badger's own memory tables and caches (16 MiB each, see
// badgerstore.Options) fill with the rewritten rows and count in the Go
// heap: what matters is that they stop growing. It reports the peak
// growth of the heap.
//
//	go test -run '^$' -bench QueueMemoryServerDown -benchtime 1x -v ./node/notify/smtp/
func BenchmarkQueueMemoryServerDown(b *testing.B) {
	for range b.N {
		growth := queueMemory(b, badgerStore(b), 5, 160<<20)
		b.ReportMetric(float64(growth)/(1<<20), "heap-growth-MiB")
	}
}

func queueMemory(t testing.TB, s store.Store, passes int, bound int64) int64 {
	const waiting, nUsers = 10000, 50
	addUsers(t, s, nUsers)
	host, port, _ := net.SplitHostPort(freeAddr(t)) // nothing listens there
	p, _ := strconv.Atoi(port)
	m, err := smtp.New(smtp.Config{Host: host, Port: p, TLS: smtp.TLSNone, From: "CPX <cpx@agency.example>", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	now := func() time.Time { return clock }
	enqueue(t, s, notify.NewQueue(now), 0, waiting, nUsers)
	wk := notify.NewWorker(notify.WorkerOptions{Store: s, Mailer: m, Templates: tmpl, Now: now})
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	base := heap()
	t.Logf("%d queued: heap in use %.1f MiB, RSS %s", waiting, mib(base), rss())
	var peak uint64
	for pass := 1; pass <= passes; pass++ {
		for attempted := 0; attempted < waiting; {
			n, err := wk.Deliver(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatalf("pass %d: nothing due after %d attempts", pass, attempted)
			}
			attempted += n
		}
		h := heap()
		peak = max(peak, h)
		st, err := notify.ReadStatus(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pass %d: %d queued, %d failing, %d sent; heap in use %.1f MiB, RSS %s", pass, st.Queued, st.Failing, st.Sent, mib(h), rss())
		if st.Queued != waiting || st.Sent != 0 {
			t.Fatalf("status = %+v, want all %d still queued", st, waiting)
		}
		clock = clock.Add(2 * time.Hour) // past the longest backoff: all due again
	}
	growth := int64(peak) - int64(base)
	if growth > bound {
		t.Errorf("heap grew by %.1f MiB while %d waited; the bound is %.0f MiB", float64(growth)/(1<<20), waiting, float64(bound)/(1<<20))
	}
	return growth
}

// processCPU is the user and system CPU time used so far by process pid
// (0: this one), from /proc (Linux; 0 elsewhere).
func processCPU(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after the command name (in parentheses): utime and stime are
	// the 12th and 13th, in clock ticks (100 a second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// rss is the process's resident set size, from /proc (Linux).
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
