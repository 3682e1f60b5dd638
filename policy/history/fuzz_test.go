package history

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzSearch: whatever a search box holds, the search neither fails nor
// finds what does not hold every word; words are never empty and never
// hold a quote.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"", "a@example.org", `"見積 書" x`, `'; DROP TABLE decisions; --`, `100% _ \`, `"`, "\x00"} {
		f.Add(s)
	}
	s, err := Open(filepath.Join(f.TempDir(), "h.db"), false)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if err := s.Add(context.Background(), sample()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		words := ParseQuery(q)
		for _, w := range words {
			if w == "" || strings.Contains(w, `"`) {
				t.Fatalf("ParseQuery(%q) = %q", q, words)
			}
		}
		recs, err := s.Search(context.Background(), Query{Words: words})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		for _, r := range recs {
			all := strings.ToLower(strings.Join(append([]string{r.Sender, r.Subject, r.QueueID, r.Rule, r.Action, r.Client, r.Host}, r.Rcpts...), "\n"))
			for _, w := range words {
				if !strings.Contains(all, strings.ToLower(w)) {
					t.Fatalf("search %q found %+v, without %q", q, r, w)
				}
			}
		}
		if n, _ := s.Search(context.Background(), Query{}); len(n) != len(sample()) {
			t.Fatalf("the table changed after searching %q", q)
		}
	})
}
