package drill

import "testing"

func TestUntag(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"From line 2, column 15 to line 2, column 27: Object 'x' not found", "From line 1, column 15 to line 1, column 27: Object 'x' not found"},
		{"Encountered \"WHERE\" at line 3, column 7.", "Encountered \"WHERE\" at line 2, column 7."},
		{"at line 1, column 1", "at line 1, column 1"},
		{"no position", "no position"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := untag(tt.in); got != tt.want {
				t.Errorf("untag(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
