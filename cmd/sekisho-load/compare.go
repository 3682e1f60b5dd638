package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/sekisho/sekisho/policy"
)

// measured is one round against one milter: what the generator saw, and
// what the watched processes spent.
type measured struct {
	stats *stats
	procs map[string]procUse
}

// procUse is what a process spent during a round.
type procUse struct {
	cpu      time.Duration
	rss, pss int64 // at the end of the round
}

// watch is a process, or processes measured together, during rounds.
type watch struct {
	name string
	pids []int
}

// sample is the sum of what /proc says of w's processes.
func (w watch) sample() (procSample, error) {
	var sum procSample
	for _, pid := range w.pids {
		s, err := sampleProc(pid)
		if err != nil {
			return sum, fmt.Errorf("%s (pid %d): %w", w.name, pid, err)
		}
		sum.cpu += s.cpu
		sum.rss += s.rss
		sum.pss += s.pss
	}
	return sum, nil
}

// round runs one load against o's milter and measures the watched
// processes around it.
func round(ctx context.Context, o *options, watched []watch) (measured, error) {
	before := map[string]procSample{}
	for _, w := range watched {
		s, err := w.sample()
		if err != nil {
			return measured{}, err
		}
		before[w.name] = s
	}
	st := load(ctx, o)
	m := measured{stats: st, procs: map[string]procUse{}}
	for _, w := range watched {
		s, err := w.sample()
		if err != nil {
			return measured{}, err
		}
		m.procs[w.name] = procUse{cpu: s.cpu - before[w.name].cpu, rss: s.rss, pss: s.pss}
	}
	return m, nil
}

// compare runs rounds against the milter under test, alternating with the
// do-nothing baseline when asked, and prints each round and a summary.
func compare(ctx context.Context, stdout, stderr io.Writer, o *options, milterAddr string, pids []string, baseline bool, rounds int) int {
	var target []watch
	for _, v := range pids {
		name, pids, _ := parsePID(v)
		target = append(target, watch{name, pids})
	}
	var base *options
	var baseWatch []watch
	if baseline {
		addr, pid, stop, err := startNull()
		if err != nil {
			fmt.Fprintln(stderr, "sekisho-load: starting the baseline milter:", err)
			return 1
		}
		defer stop()
		b := *o
		if b.network, b.addr, err = policy.ParseListen(addr); err != nil {
			fmt.Fprintln(stderr, "sekisho-load:", err)
			return 1
		}
		base, baseWatch = &b, []watch{{"baseline", []int{pid}}}
	}
	fmt.Fprintf(stdout, "body %s, %d connections, %d messages per connection, %d rounds\n\n", o.body.name, o.connections, o.perConn, rounds)
	var tRounds, bRounds []measured
	errors := 0
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tmilter\tmessages\tmsg/s\tprocess\tCPU ms/msg\tRSS MiB\tPSS MiB\t")
	for i := 1; i <= rounds && ctx.Err() == nil; i++ {
		if base != nil {
			m, err := round(ctx, base, baseWatch)
			if err != nil {
				fmt.Fprintln(stderr, "sekisho-load:", err)
				return 1
			}
			bRounds = append(bRounds, m)
			errors += m.stats.errors
			m.row(tw, i, "baseline")
		}
		m, err := round(ctx, o, target)
		if err != nil {
			fmt.Fprintln(stderr, "sekisho-load:", err)
			return 1
		}
		tRounds = append(tRounds, m)
		errors += m.stats.errors
		m.row(tw, i, milterAddr)
	}
	tw.Flush()

	fmt.Fprintln(stdout, "\nmedian of the rounds:")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "milter\tmsg/s\tprocess\tCPU ms/msg\tPSS MiB\t")
	rate := func(ms []measured) float64 { return median(ms, func(m measured) float64 { return m.stats.rate() }) }
	cpu := func(ms []measured, p string) float64 {
		return median(ms, func(m measured) float64 { return m.cpuPerMsg(p) })
	}
	pss := func(ms []measured, p string) float64 {
		return median(ms, func(m measured) float64 { return float64(m.procs[p].pss) / (1 << 20) })
	}
	if base != nil {
		fmt.Fprintf(tw, "baseline\t%.1f\tbaseline\t%.3f\t%.1f\t\n", rate(bRounds), cpu(bRounds, "baseline"), pss(bRounds, "baseline"))
	}
	for j, w := range target {
		r := ""
		if j == 0 {
			r = fmt.Sprintf("%.1f", rate(tRounds))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.1f\t\n", milterAddr, r, w.name, cpu(tRounds, w.name), pss(tRounds, w.name))
	}
	if len(target) == 0 {
		fmt.Fprintf(tw, "%s\t%.1f\t\t\t\t\n", milterAddr, rate(tRounds))
	}
	tw.Flush()
	if base != nil {
		fmt.Fprintf(stdout, "\nratio to the baseline: throughput %.2f", rate(tRounds)/rate(bRounds))
		if len(target) > 0 {
			fmt.Fprintf(stdout, ", CPU per message %.2f (%s)", cpu(tRounds, target[0].name)/cpu(bRounds, "baseline"), target[0].name)
		}
		fmt.Fprintln(stdout)
		// On a shared machine the speed drifts from one round to the
		// next: a round against the baseline just before it is the
		// fairer comparison.
		n := min(len(tRounds), len(bRounds))
		fmt.Fprintf(stdout, "ratio of each round to the baseline round before it (median, lowest-highest of %d): throughput %s", n,
			spread(pairs(tRounds[:n], bRounds[:n], func(t, b measured) float64 { return t.stats.rate() / b.stats.rate() })))
		if len(target) > 0 {
			fmt.Fprintf(stdout, ", CPU per message %s", spread(pairs(tRounds[:n], bRounds[:n], func(t, b measured) float64 {
				return t.cpuPerMsg(target[0].name) / b.cpuPerMsg("baseline")
			})))
		}
		fmt.Fprintln(stdout)
	}
	if len(tRounds) > 0 {
		fmt.Fprintln(stdout, "\noutcomes of the last round against", milterAddr+":")
		tRounds[len(tRounds)-1].stats.printOutcomes(stdout)
	}
	if errors > 0 {
		return 1
	}
	return 0
}

func (m measured) cpuPerMsg(p string) float64 {
	if m.stats.messages == 0 {
		return 0
	}
	return float64(m.procs[p].cpu) / float64(time.Millisecond) / float64(m.stats.messages)
}

func (m measured) row(tw io.Writer, i int, milter string) {
	if len(m.procs) == 0 {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t\t\t\t\t\n", i, milter, m.stats.messages, m.stats.rate())
		return
	}
	names := make([]string, 0, len(m.procs))
	for n := range m.procs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := m.procs[n]
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%s\t%.3f\t%.1f\t%.1f\t\n", i, milter, m.stats.messages, m.stats.rate(),
			n, m.cpuPerMsg(n), float64(p.rss)/(1<<20), float64(p.pss)/(1<<20))
	}
}

// pairs is f of each target round and the baseline round before it.
func pairs(t, b []measured, f func(t, b measured) float64) []float64 {
	v := make([]float64, len(t))
	for i := range t {
		v[i] = f(t[i], b[i])
	}
	return v
}

// spread is the median of v and its range.
func spread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f (%.2f-%.2f)", medianOf(v), slices.Min(v), slices.Max(v))
}

func median(ms []measured, f func(measured) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	return medianOf(v)
}

// medianOf is the median of v, which it sorts.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
