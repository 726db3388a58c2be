package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/config/configtest"
	"github.com/fieldsync/fieldsync/internal/metrics/metricstest"
)

func TestMetricsAddrMustBeLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, config string }{
		{"all interfaces", `{"metrics":{"addr":"0.0.0.0:9464"}}`},
		{"a LAN address", `{"metrics":{"addr":"192.168.10.20:9464"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, tt.config)
			code, _, errs := run(t, nil, "", "agent", "--config", cfg, "--data-dir", t.TempDir())
			if code != 1 || !strings.Contains(errs, "metrics addr") || !strings.Contains(errs, "not a loopback address") {
				t.Errorf("exit %d, stderr %q: want 1 and the reason", code, errs)
			}
		})
	}
}

// TestAgentServesMetrics runs `fieldsync agent` with FIELDSYNC_METRICS_ADDR
// and scrapes it until it answers, then stops it like SIGTERM does.
func TestAgentServesMetrics(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	home := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{
			Args:   []string{"agent", "--data-dir", filepath.Join(home, "data"), "--device", "laptop-m"},
			Stdout: &out, Stderr: &errb, Keyring: configtest.Keyring{},
			Environ: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "cfg"),
				"FIELDSYNC_MANAGED_CONFIG=" + filepath.Join(home, "managed.json"), "FIELDSYNC_METRICS_ADDR=" + addr},
		})
	}()
	url := "http://" + addr + "/metrics"
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("agent exited %d before serving metrics: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics at %s: %v", url, err)
		}
	}
	fams := metricstest.Scrape(t, url)
	if got := fams.Value(t, "fieldsync_info", "device", "laptop-m"); got != 1 {
		t.Errorf("fieldsync_info{device=laptop-m} = %v", got)
	}
	if got := fams.Value(t, "fieldsync_pending_changes"); got != 0 {
		t.Errorf("pending = %v, want 0", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("agent exit %d: %s", code, errb.String())
	}
	if _, err := http.Get(url); err == nil {
		t.Error("metrics still served after the agent stopped")
	}
	if !strings.Contains(errb.String(), "serving metrics") {
		t.Errorf("the log does not say where metrics are served: %s", errb.String())
	}
}
