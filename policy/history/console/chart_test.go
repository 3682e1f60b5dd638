package console

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/history"
)

// TestBuildChart: counts are stacked per hour in the legend's order
// (most refusals first), the scale's top is a round number at least the
// busiest hour, hours outside the week are left out, and rules past the
// eighth share "other".
func TestBuildChart(t *testing.T) {
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)
	in := []countIn{
		{since, "ascii_only", 3},
		{since, "virus", 1},
		{since.Add(5 * time.Hour), "ascii_only", 4},
		{since.Add(-time.Hour), "virus", 100},         // before the week
		{since.Add(chartHours * time.Hour), "x", 100}, // after it
	}
	for i := range 9 {
		in = append(in, countIn{since.Add(10 * time.Hour), fmt.Sprintf("r%d", i), 1})
	}
	v := buildChart(in, since)
	if v.Max != 10 {
		t.Errorf("scale top %d, want 10", v.Max)
	}
	if len(v.Legend) != 9 || v.Legend[0].Rule != "ascii_only" || v.Legend[0].Total != 7 || v.Legend[8].Rule != "other" {
		t.Errorf("legend %+v", v.Legend)
	}
	// Hour 0: ascii_only (3) at the bottom, virus (1) on top of it.
	if len(v.Bars) < 2 || v.Bars[0].H != 60 || v.Bars[0].Y != chartTop+chartHeight-60 || v.Bars[1].H != 20 || v.Bars[1].Y != v.Bars[0].Y-20 {
		t.Errorf("bars of hour 0: %+v", v.Bars[:2])
	}
	if !strings.Contains(v.Bars[0].Title, "ascii_only: 3") {
		t.Errorf("title %q", v.Bars[0].Title)
	}
	if len(v.Days) != 7 {
		t.Errorf("%d day marks, want 7", len(v.Days))
	}
	for n, want := range map[int64]int64{0: 1, 1: 1, 2: 2, 3: 5, 7: 10, 11: 20, 199: 200, 201: 500} {
		if got := niceMax(n); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestChartPage: the chart page counts the store's refusals of the week
// and escapes rule names it draws.
func TestChartPage(t *testing.T) {
	now := time.Now()
	srv := serve(t, storeOf(t, []history.Record{
		{Time: now, Rule: "ascii_only", Action: "reject", Stage: "eoh"},
		{Time: now, Rule: "ascii_only", Action: "quarantine", Stage: "eoh"},
		{Time: now.Add(-2 * time.Hour), Rule: `<b>x</b>`, Action: "tempfail", Stage: "rcpt"},
		{Time: now, Rule: "blank", Action: "reject", Stage: "eob", DryRun: true},
		{Time: now, Action: "accept", Stage: "eob"},
		{Time: now.Add(-8 * 24 * time.Hour), Rule: "virus", Action: "reject", Stage: "eob"},
	}...), Held{})
	code, body, _ := get(t, srv.URL+"/chart")
	if code != 200 {
		t.Fatalf("GET /chart: %d\n%s", code, body)
	}
	for _, want := range []string{"3 messages refused", `<svg id="chart"`, "&lt;b&gt;x&lt;/b&gt;", ">ascii_only<"} {
		if !strings.Contains(body, want) {
			t.Errorf("chart page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>x</b>") || strings.Contains(body, ">virus<") || strings.Contains(body, ">blank<") {
		t.Errorf("chart page shows what it should not:\n%s", body)
	}
	if n := strings.Count(body, `class="bar"`); n != 2 {
		t.Errorf("%d bars, want 2 (one hour of ascii_only, one of the other)", n)
	}
}
