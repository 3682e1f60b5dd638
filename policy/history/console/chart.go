package console

// The chart of refusals: by rule, per hour, over the last seven days, as
// stacked bars drawn on the server in SVG (the page still runs no script;
// each bar's title is its tooltip). The counting is the store's
// (history.Store.Refusals), grouped in the database.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartHours  = 7 * 24
	chartBarW   = 5
	chartHeight = 200
	chartLeft   = 40 // room for the scale
	chartTop    = 10
	chartRules  = 8 // rules with a colour of their own; the others are "other"
)

// chartColours are told apart by most eyes, the colour-blind included
// (Okabe and Ito's palette), then a grey for "other".
var chartColours = []string{"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#999999"}

type chartBar struct {
	X, Y, W, H int
	Colour     string
	Title      string
}

type chartTick struct {
	X, Y  int
	Label string
}

type chartLegend struct {
	Rule   string
	Colour string
	Total  int64
}

// chartView is the chart part of a page.
type chartView struct {
	Width, Height int
	Bars          []chartBar
	Days          []chartTick // a label at each midnight
	Max           int64       // the scale's top
	Legend        []chartLegend
	Total         int64
	Since         time.Time
}

// buildChart lays out counts of the hours from since on.
func buildChart(counts []countIn, since time.Time) chartView {
	v := chartView{Width: chartLeft + chartHours*chartBarW + 10, Height: chartTop + chartHeight + 30, Since: since}
	end := since.Add(chartHours * time.Hour)
	counts = slices.DeleteFunc(slices.Clone(counts), func(c countIn) bool { return c.start.Before(since) || !c.start.Before(end) })
	totals := map[string]int64{}
	for _, c := range counts {
		totals[c.rule] += c.n
		v.Total += c.n
	}
	rules := make([]string, 0, len(totals))
	for r := range totals {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool {
		if totals[rules[i]] != totals[rules[j]] {
			return totals[rules[i]] > totals[rules[j]]
		}
		return rules[i] < rules[j]
	})
	colour := map[string]string{}
	for i, r := range rules {
		if i < chartRules {
			colour[r] = chartColours[i]
			v.Legend = append(v.Legend, chartLegend{Rule: r, Colour: chartColours[i], Total: totals[r]})
			continue
		}
		colour[r] = chartColours[chartRules]
		if i == chartRules {
			v.Legend = append(v.Legend, chartLegend{Rule: "other", Colour: chartColours[chartRules]})
		}
		v.Legend[chartRules].Total += totals[r]
	}
	// Per hour: the counts of each rule, stacked in the legend's order.
	hours := make([]map[string]int64, chartHours)
	var top int64
	for _, c := range counts {
		i := int(c.start.Sub(since) / time.Hour)
		if hours[i] == nil {
			hours[i] = map[string]int64{}
		}
		hours[i][c.rule] += c.n
	}
	for _, h := range hours {
		var sum int64
		for _, n := range h {
			sum += n
		}
		top = max(top, sum)
	}
	v.Max = niceMax(top)
	for i, h := range hours {
		y := chartTop + chartHeight
		for _, r := range rules {
			n := h[r]
			if n == 0 {
				continue
			}
			ht := max(int(n*chartHeight/v.Max), 1)
			y -= ht
			at := since.Add(time.Duration(i) * time.Hour)
			v.Bars = append(v.Bars, chartBar{X: chartLeft + i*chartBarW, Y: y, W: chartBarW - 1, H: ht, Colour: colour[r],
				Title: fmt.Sprintf("%s %s: %d", at.Local().Format("01-02 15:00"), r, n)})
		}
	}
	for i := range chartHours {
		at := since.Add(time.Duration(i) * time.Hour).Local()
		if at.Hour() == 0 {
			v.Days = append(v.Days, chartTick{X: chartLeft + i*chartBarW, Y: chartTop + chartHeight + 15, Label: at.Format("01-02")})
		}
	}
	return v
}

// niceMax rounds the top of the scale up to 1, 2 or 5 times a power of
// ten, and at least 1.
func niceMax(n int64) int64 {
	if n <= 1 {
		return 1
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// countIn is a store's count as the chart takes it.
type countIn struct {
	start time.Time
	rule  string
	n     int64
}

func (h *handler) chart(w http.ResponseWriter, r *http.Request) {
	v := view{Tab: "chart"}
	s := h.store()
	if s == nil {
		v.Error = tr(langOf(r), "err_no_history")
		h.render(w, r, http.StatusServiceUnavailable, v)
		return
	}
	since := time.Now().Truncate(time.Hour).Add(-(chartHours - 1) * time.Hour)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	counts, err := s.Refusals(ctx, since, time.Hour)
	if err != nil {
		h.log.Warn("console: counting refusals failed", "error", err)
		v.Error = tr(langOf(r), "err_store")
		h.render(w, r, http.StatusServiceUnavailable, v)
		return
	}
	in := make([]countIn, len(counts))
	for i, c := range counts {
		in[i] = countIn{start: c.Start, rule: c.Rule, n: c.N}
	}
	cv := buildChart(in, since)
	v.Chart = &cv
	h.render(w, r, http.StatusOK, v)
}
