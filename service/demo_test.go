package service

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestInfoReportsDemoData(t *testing.T) {
	tests := []struct {
		name   string
		marker bool
		want   bool
	}{
		{"a data dir without the marker is real data", false, false},
		{"the marker makes it demo data", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenService(t, serviceOpts{})
			if tt.marker {
				if err := os.WriteFile(filepath.Join(s.Config().DataDir, DemoMarker), []byte("demo\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			info, err := s.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.Demo != tt.want {
				t.Errorf("Info().Demo = %v, want %v", info.Demo, tt.want)
			}
		})
	}
}
