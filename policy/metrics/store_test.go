package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sekisho/sekisho/policy/metrics"
)

// TestStoreUp: the state of each store is a series of its own, which is
// dropped with the store; a nil *Metrics does nothing.
func TestStoreUp(t *testing.T) {
	var none *metrics.Metrics
	none.StoreUp("redis://h/0", true)
	none.StoreGone("redis://h/0")

	m := metrics.New("test")
	m.StoreUp("redis+sentinel://:xxxxx@s1:26379/mymaster/0", true)
	m.StoreUp("redis+cluster://n1:7000", true)
	m.StoreUp("redis+cluster://n1:7000", false)
	want := `
# HELP sekisho_ratelimit_store_up 1 while a Redis rate-limit store answers, 0 from its first failed call until one succeeds again, by store (its URL without passwords). A store is taken to be up until a call fails.
# TYPE sekisho_ratelimit_store_up gauge
sekisho_ratelimit_store_up{store="redis+cluster://n1:7000"} 0
sekisho_ratelimit_store_up{store="redis+sentinel://:xxxxx@s1:26379/mymaster/0"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "sekisho_ratelimit_store_up"); err != nil {
		t.Error(err)
	}
	m.StoreGone("redis+cluster://n1:7000")
	if n := testutil.CollectAndCount(m.Registry(), "sekisho_ratelimit_store_up"); n != 1 {
		t.Errorf("%d series after a store is gone, want 1", n)
	}
}
