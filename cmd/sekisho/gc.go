package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The collector's tuning, unless the GOGC environment variable sets its
// own. go-milter allocates every packet afresh, about 1.2 times each
// message's size, while what sekisho keeps live between messages is small
// (2 to 3 MB under load). So the collector runs at Go's minimum heap (4
// MiB × GOGC/100) every few messages; at Go's default of 100 it cost a
// quarter of the daemon's CPU. The heap may grow to gcPercent over what is
// live, as GOGC would allow, and to no less than heapFloor: under the load
// test the collector ran once every 14 messages instead of every 11 at a
// plain GOGC=200, and a 50 MB message with a PDF attachment raises the
// peak memory by 12 to 16 MiB, the PDF's first 4 MiB included
// (TestE2ELargeMessageRSS allows 24).
const (
	gcPercent = 200
	heapFloor = 12 << 20
)

// tuneGC sets the collector's target after every collection from the heap
// that collection found live (see heapFloor). It returns at once; the
// tuning runs with each collection's finalizers.
func tuneGC() {
	t := &gcTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
	t.adjust()
	t.arm()
}

type gcTuner struct {
	sample []metrics.Sample
}

// gcSentinel is garbage made to have its finalizer run by the next
// collection; it holds a pointer so that it is allocated on its own.
type gcSentinel struct{ t *gcTuner }

func (t *gcTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{t}, func(s *gcSentinel) {
		s.t.adjust()
		s.t.arm()
	})
}

func (t *gcTuner) adjust() {
	metrics.Read(t.sample)
	live := t.sample[0].Value.Uint64()
	debug.SetGCPercent(gcTarget(live, live+t.sample[1].Value.Uint64()+t.sample[2].Value.Uint64()))
}

// gcTarget is the GOGC value for live bytes of heap and scan bytes of
// heap, stacks and globals: gcPercent, or more to reach heapFloor. Go's
// heap goal is live + scan × GOGC / 100, and never below its minimum heap
// of 4 MiB × GOGC / 100: above maxPercent, that minimum alone would pass
// the floor.
func gcTarget(live, scan uint64) int {
	const maxPercent = heapFloor * 100 / (4 << 20)
	if scan == 0 {
		return maxPercent
	}
	p := gcPercent
	if live+scan*gcPercent/100 < heapFloor {
		p = int((heapFloor - live) * 100 / scan)
	}
	return min(p, maxPercent)
}
