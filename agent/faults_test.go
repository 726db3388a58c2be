package agent

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// swappableDrill lets a test change the Drill an agent talks to, e.g. to
// make its credentials stop working.
type swappableDrill struct {
	cur atomic.Pointer[Drill]
}

func (s *swappableDrill) set(d Drill) { s.cur.Store(&d) }

func (s *swappableDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	return (*s.cur.Load()).Query(ctx, sql)
}

func mustClient(tb testing.TB, opts drill.Options) Drill {
	tb.Helper()
	c, err := drill.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return DrillClient(c)
}

func TestIntegrationCredentialsStopWorking(t *testing.T) {
	t.Parallel()
	url := drilltest.AuthURL(t)
	good := mustClient(t, drill.Options{Endpoints: []string{url}, Auth: drill.AuthForm, User: drilltest.AuthUser, Password: drilltest.AuthPassword})
	bad := mustClient(t, drill.Options{Endpoints: []string{url}, Auth: drill.AuthBasic, User: drilltest.AuthUser, Password: drilltest.WrongPassword})
	sw := &swappableDrill{}
	sw.set(good)
	set, name := itSchema(t)
	coll := name("inspections")
	a := mustNode(t, "a", time.Now().UnixMilli(), sw, func(o *Options) { o.Schema = set })
	a.edit(t, coll, "r1", `{"site":"one"}`)
	a.sync(t)
	sw.set(bad)
	a.edit(t, coll, "r2", `{"site":"two"}`)
	if _, err := a.ag.SyncNow(context.Background()); !drill.IsAuthError(err) {
		t.Fatalf("sync with a wrong password = %v, want an auth error", err)
	}
	s := a.ag.Status()
	if s.State != StateError || !strings.Contains(s.LastError, "refused the sign-in") || s.Pending != 1 {
		t.Errorf("status with a wrong password: %+v", s)
	}
	sw.set(good)
	a.sync(t)
	assertExactlyOnceSQL(t, good, coll, 2)
}

// flakyProxy forwards TCP connections to a Drillbit, delaying data and
// cutting some connections in the middle.
type flakyProxy struct {
	ln       net.Listener
	upstream string
	faulty   atomic.Bool
	cuts     atomic.Int64
	mu       sync.Mutex
	rng      *rand.Rand
	wg       sync.WaitGroup
}

func startProxy(tb testing.TB, upstream string) *flakyProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &flakyProxy{ln: ln, upstream: upstream, rng: rand.New(rand.NewPCG(5, 5))}
	p.faulty.Store(true)
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *flakyProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *flakyProxy) intn(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.IntN(n)
}

func (p *flakyProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *flakyProxy) handle(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 4<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				if p.faulty.Load() {
					time.Sleep(time.Duration(p.intn(20)) * time.Millisecond)
					if p.intn(25) == 0 {
						p.cuts.Add(1)
						return // the deferred closes cut both directions
					}
				}
				if _, werr := dst.Write(buf[:k]); werr != nil {
					return
				}
			}
			if err != nil {
				if err == io.EOF {
					if tc, ok := dst.(*net.TCPConn); ok {
						_ = tc.CloseWrite()
					}
				}
				return
			}
		}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
}

func TestIntegrationFlakyNetwork(t *testing.T) {
	t.Parallel()
	real := realDrill(t)
	proxy := startProxy(t, strings.TrimPrefix(drilltest.URL(t), "http://"))
	d := mustClient(t, drill.Options{Endpoints: []string{proxy.URL()}, DialTimeout: 2 * time.Second})
	set, name := itSchema(t)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	a := mustNode(t, "a", now, d, func(o *Options) { o.Schema = set; o.BatchRows = 3 })
	b := mustNode(t, "b", now, d, func(o *Options) { o.Schema = set; o.BatchRows = 3 })
	const rounds = 6
	failures := 0
	for i := range rounds {
		for _, n := range []*node{a, b} {
			n.edit(t, coll, fmt.Sprintf("%s-%d", n.device, i), fmt.Sprintf(`{"site":"%s %d"}`, n.device, i))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := n.ag.SyncNow(ctx); err != nil {
				failures++
				if s := n.ag.Status(); s.LastError == "" || s.Cause == "" {
					t.Errorf("status after a failed sync: %+v", s)
				}
			}
			cancel()
		}
	}
	t.Logf("%d connections cut, %d syncs failed", proxy.cuts.Load(), failures)
	proxy.faulty.Store(false)
	for range 2 {
		a.sync(t)
		b.sync(t)
	}
	assertExactlyOnceSQL(t, real, coll, 2*rounds)
	for _, n := range []*node{a, b} {
		if st, _ := n.st.Stats(context.Background()); st.Collections[coll].Live != 2*rounds {
			t.Errorf("%s has %d records, want %d", n.device, st.Collections[coll].Live, 2*rounds)
		}
	}
}

func TestIntegrationDrillbitRestartMidPush(t *testing.T) {
	t.Parallel()
	db := drilltest.Start(t, drilltest.Options{})
	d := mustClient(t, drill.Options{Endpoints: []string{db.URL()}, DialTimeout: 2 * time.Second})
	set, name := itSchema(t)
	coll := name("inspections")
	a := mustNode(t, "a", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set; o.BatchRows = 2 })
	var stop atomic.Bool
	var wg sync.WaitGroup
	var okAfterRestart atomic.Int64
	var restarted atomic.Bool
	var offline atomic.Int64
	editErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if _, err := a.tryEdit(coll, fmt.Sprint("r", i), `{"site":"x"}`); err != nil {
				editErr <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err := a.ag.SyncNow(ctx)
			cancel()
			switch {
			case err != nil && a.ag.Status().State == StateOffline:
				offline.Add(1)
			case err == nil && restarted.Load():
				okAfterRestart.Add(1)
			}
			if err != nil {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	db.Stop()
	time.Sleep(time.Second)
	db.Restart()
	restarted.Store(true)
	for deadline := time.Now().Add(2 * time.Minute); okAfterRestart.Load() < 2; {
		if time.Now().After(deadline) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("no successful sync after the restart; status %+v", a.ag.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-editErr:
		t.Fatal(err)
	default:
	}
	a.sync(t)
	if offline.Load() == 0 {
		t.Error("no sync reported offline while the Drillbit was down")
	}
	st, err := a.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 0 {
		t.Errorf("pending %d after recovery", st.Pending)
	}
	assertExactlyOnceSQL(t, d, coll, int(st.Collections[coll].Live))
	t.Logf("%d changes pushed across a Drillbit restart, %d syncs offline", st.Collections[coll].Live, offline.Load())
}
