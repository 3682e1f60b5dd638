package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCTarget(t *testing.T) {
	for _, tt := range []struct {
		live, scan uint64
		want       int
	}{
		{0, 0, 300},
		{1 << 10, 1 << 10, 300},               // nearly nothing: the minimum heap is 12 MiB
		{2 << 20, 2 << 20, 300},               // 2 MiB live: the heap may reach 12 MiB
		{2 << 20, 5 << 20, 200},               // with 3 MiB of stacks and globals: GOGC=200
		{3 << 20, 3 << 20, 300},               // 3 MiB: 12 MiB
		{heapFloor / 3, heapFloor / 3, 200},   // from here on, GOGC=200
		{64 << 20, 66 << 20, gcPercent},       // 64 MiB live: 196 MiB
		{heapFloor - 1, heapFloor, gcPercent}, // 3× is above the floor
	} {
		if got := gcTarget(tt.live, tt.scan); got != tt.want {
			t.Errorf("gcTarget(%d, %d) = %d, want %d", tt.live, tt.scan, got, tt.want)
		}
	}
}

// TestTuneGC: after collections, the collector's target is the one
// gcTarget gives for what they found live, never below gcPercent.
func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	tuneGC()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs
	}
	p := debug.SetGCPercent(100)
	if p < gcPercent || p == 100 {
		t.Errorf("GOGC after collections = %d, want at least %d", p, gcPercent)
	}
}
