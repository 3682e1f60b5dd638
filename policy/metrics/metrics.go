// Package metrics holds sekisho's Prometheus metrics and serves them.
//
// Every method works on a nil *Metrics and then does nothing, so that the
// code it instruments needs no metrics of its own to run, and pays only a
// nil check when metrics are off. The metrics live in a registry of their
// own, not in the process-wide default one, so that nothing a library
// registers there is exposed by accident.
//
// Label values must come from a bounded set (rule, zone and stage names
// of the configuration, the fixed outcomes and kinds listed at each
// method): each distinct set of values is a series kept for the life of
// the process.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// durationBuckets spans what sekisho times, from a check that is only a
// map lookup (tens of microseconds) to a clamd scan at its timeout (30s by
// default).
var durationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Outcomes, clamd error kinds and store operations: known in advance, so
// their series exist (at zero) from the start, and a rate or increase over
// them is defined before the first event.
var (
	outcomes   = []string{"accept", "reject", "tempfail", "discard", "quarantine"}
	clamdKinds = []string{"connect", "timeout", "protocol", "size_limit", "other"}
	storeOps   = []string{"count", "add"}
	stages     = []string{"connect", "helo", "mail", "rcpt", "eoh", "eob"}
)

// Metrics is the set of sekisho's metrics, with the registry that exposes
// them. Its methods are safe for concurrent use, and on a nil *Metrics.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	messages    *prometheus.CounterVec
	outcome     [5]prometheus.Counter // by index in outcomes
	decisions   children[[3]string, prometheus.Counter]
	dryRuns     children[[3]string, prometheus.Counter]
	ruleErrors  children[string, prometheus.Counter]
	uninspected children[string, prometheus.Counter]
	stage       children[string, prometheus.Observer]
	dnsbl       children[[2]string, prometheus.Counter]
	dnsblCache  children[[2]string, prometheus.Counter]
	clamdScan   prometheus.Histogram
	clamdErrors children[string, prometheus.Counter]
	clamdConns  [2]prometheus.Counter // sessions on a new connection, on a kept one
	clamdCache  [2]prometheus.Counter // parts answered from the verdict cache, parts sent to clamd
	storeErrors children[string, prometheus.Counter]
	storeUp     *prometheus.GaugeVec
	clamdUp     *prometheus.GaugeVec
	dnsblUp     *prometheus.GaugeVec
	historyDrop prometheus.Counter
	historyUp   *prometheus.GaugeVec
	sessions    prometheus.Gauge
	reloadOK    prometheus.Gauge
	reloadTime  prometheus.Gauge
}

// New makes the metrics and registers them, with sekisho_build_info for
// version and the Go runtime's and the process's collectors, in a registry
// of their own.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_messages_total",
		Help: "Mail transactions by final outcome: accept, reject, tempfail, discard or quarantine. A transaction counts once, when its outcome is final: at end of message, when refused or discarded before, or when it ends with every recipient refused.",
	}, []string{"outcome"})
	for i, o := range outcomes {
		m.outcome[i] = m.messages.WithLabelValues(o)
	}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_decisions_total",
		Help: "Decisions of the rules that took effect, by rule, action and stage.",
	}, []string{"rule", "action", "stage"})
	m.decisions.init(func(k [3]string) prometheus.Counter { return decisions.WithLabelValues(k[0], k[1], k[2]) })
	dryRuns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_dry_run_decisions_total",
		Help: "Decisions the rules would have taken outside a dry run, by rule, action and stage; the mail was let through.",
	}, []string{"rule", "action", "stage"})
	m.dryRuns.init(func(k [3]string) prometheus.Counter { return dryRuns.WithLabelValues(k[0], k[1], k[2]) })
	ruleErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_rule_errors_total",
		Help: "Rules that could not decide (a service down, too slow, or failing), by rule; the rule's on_error applied.",
	}, []string{"rule"})
	m.ruleErrors.init(func(k string) prometheus.Counter { return ruleErrors.WithLabelValues(k) })
	uninspected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_uninspectable_messages_total",
		Help: "Messages that could not be read completely, by reason.",
	}, []string{"reason"})
	m.uninspected.init(func(k string) prometheus.Counter { return uninspected.WithLabelValues(k) })
	stage := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sekisho_stage_duration_seconds",
		Help:    "Time the policy took to answer the MTA at each milter stage (connect, helo, mail, rcpt, eoh, eob).",
		Buckets: durationBuckets,
	}, []string{"stage"})
	m.stage.init(func(k string) prometheus.Observer { return stage.WithLabelValues(k) })
	for _, s := range stages {
		m.stage.get(s)
	}
	dnsbl := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_dnsbl_lookups_total",
		Help: "DNSBL lookups by zone and result: listed, clean, or error (no answer, an error rcode, or an answer outside the zone's codes).",
	}, []string{"zone", "result"})
	m.dnsbl.init(func(k [2]string) prometheus.Counter { return dnsbl.WithLabelValues(k[0], k[1]) })
	dnsblCache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_dnsbl_cache_total",
		Help: "DNSBL lookups answered from the cache (hit), or by a query of their own or one already under way (miss), by zone.",
	}, []string{"zone", "result"})
	m.dnsblCache.init(func(k [2]string) prometheus.Counter { return dnsblCache.WithLabelValues(k[0], k[1]) })
	m.clamdScan = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sekisho_clamd_scan_duration_seconds",
		Help:    "Time from the end of a message's data to clamd's verdict, for each message clamd answered.",
		Buckets: durationBuckets,
	})
	clamdErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_clamd_errors_total",
		Help: "Scans without a verdict, by kind: connect, timeout, protocol, size_limit or other.",
	}, []string{"kind"})
	m.clamdErrors.init(func(k string) prometheus.Counter { return clamdErrors.WithLabelValues(k) })
	for _, k := range clamdKinds {
		m.clamdErrors.get(k)
	}
	clamdConns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_clamd_sessions_total",
		Help: "clamd sessions (the parts of one message), by connection: new (dialled for it) or reused (kept from an earlier message).",
	}, []string{"connection"})
	m.clamdConns = [2]prometheus.Counter{clamdConns.WithLabelValues("new"), clamdConns.WithLabelValues("reused")}
	clamdCache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_clamd_cache_total",
		Help: "Parts looked up in the virus rule's verdict cache: hit (clamd's verdict on the same bytes under the same signatures was kept) or miss (sent to clamd).",
	}, []string{"result"})
	m.clamdCache = [2]prometheus.Counter{clamdCache.WithLabelValues("hit"), clamdCache.WithLabelValues("miss")}
	storeErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_ratelimit_store_errors_total",
		Help: "Failed calls to the rate-limit store, by operation: count (at RCPT) or add (for accepted mail).",
	}, []string{"op"})
	m.storeErrors.init(func(k string) prometheus.Counter { return storeErrors.WithLabelValues(k) })
	for _, op := range storeOps {
		m.storeErrors.get(op)
	}
	m.clamdUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sekisho_clamd_up",
		Help: "1 while the clamd at address answers, 0 from the first connection to it that failed until one succeeds again. A clamd is taken to be up until a connection fails.",
	}, []string{"address"})
	m.dnsblUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sekisho_dnsbl_zone_up",
		Help: "1 while a DNSBL zone's lookups are answered (listed or not), 0 from the first that failed until one is answered again, by zone; from the zone's first lookup on.",
	}, []string{"zone"})
	m.storeUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sekisho_ratelimit_store_up",
		Help: "1 while a Redis rate-limit store answers, 0 from its first failed call until one succeeds again, by store (its URL without passwords). A store is taken to be up until a call fails.",
	}, []string{"store"})
	m.historyDrop = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sekisho_history_dropped_total",
		Help: "Decisions not written to the history: its queue was full, or its store did not answer. Mail is never delayed for the history.",
	})
	m.historyUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sekisho_history_up",
		Help: "1 while the history store takes writes, 0 from its first failed write until one succeeds again, by store (its path, or its URL without passwords); absent when [history] is off.",
	}, []string{"store"})
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sekisho_milter_sessions",
		Help: "Milter connections from the MTA open now.",
	})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sekisho_config_reload_success",
		Help: "1 when the last configuration reload succeeded (or none was tried), 0 when it failed and the previous configuration stays in force.",
	})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sekisho_config_reload_last_success_timestamp_seconds",
		Help: "When the configuration in force was loaded, in seconds since the Unix epoch.",
	})
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sekisho_build_info",
		Help: "Always 1; its labels say which version of sekisho, built with which Go, is running.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)

	reg.MustRegister(m.messages, decisions, dryRuns, ruleErrors, uninspected, stage, dnsbl, dnsblCache,
		m.clamdScan, clamdErrors, clamdConns, clamdCache, storeErrors, m.clamdUp, m.dnsblUp, m.storeUp, m.historyDrop, m.historyUp, m.sessions, m.reloadOK, m.reloadTime, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Made once: the handler's own metrics (promhttp_metric_handler_*) are
	// registered with it.
	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

// Registry returns the registry the metrics are in, for tests and for
// callers that expose them some other way; nil on a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the metrics in the Prometheus exposition formats; on a
// nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// The methods below check for a nil *Metrics and call the work out of
// line, so that the check is inlined into the caller: with metrics off, a
// call costs a compare and a branch.

// Message counts a mail transaction by its final outcome: accept, reject,
// tempfail, discard or quarantine.
func (m *Metrics) Message(outcome string) {
	if m != nil {
		m.message(outcome)
	}
}

func (m *Metrics) message(outcome string) {
	for i, o := range outcomes {
		if o == outcome {
			m.outcome[i].Inc()
			return
		}
	}
	m.messages.WithLabelValues(outcome).Inc()
}

// Decision counts a decision of rule (its action at stage) that took
// effect, or, for a dry run, that would have.
func (m *Metrics) Decision(rule, action, stage string, dryRun bool) {
	if m != nil {
		m.decision(rule, action, stage, dryRun)
	}
}

func (m *Metrics) decision(rule, action, stage string, dryRun bool) {
	if dryRun {
		m.dryRuns.get([3]string{rule, action, stage}).Inc()
		return
	}
	m.decisions.get([3]string{rule, action, stage}).Inc()
}

// RuleError counts a rule that could not decide.
func (m *Metrics) RuleError(rule string) {
	if m != nil {
		inc(&m.ruleErrors, rule)
	}
}

// Uninspected counts a message that could not be read completely, by the
// reason's class.
func (m *Metrics) Uninspected(reason string) {
	if m != nil {
		inc(&m.uninspected, reason)
	}
}

// StageSeconds records how long the policy took at a milter stage.
func (m *Metrics) StageSeconds(stage string, d time.Duration) {
	if m != nil {
		m.stageSeconds(stage, d)
	}
}

func (m *Metrics) stageSeconds(stage string, d time.Duration) {
	m.stage.get(stage).Observe(d.Seconds())
}

// DNSBLLookup counts one zone's lookup by result: listed, clean or error.
func (m *Metrics) DNSBLLookup(zone, result string) {
	if m != nil {
		inc(&m.dnsbl, [2]string{zone, result})
	}
}

// DNSBLCache counts one zone's lookup as answered from the cache or not.
func (m *Metrics) DNSBLCache(zone string, hit bool) {
	if m != nil {
		m.dnsblCacheInc(zone, hit)
	}
}

func (m *Metrics) dnsblCacheInc(zone string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.dnsblCache.get([2]string{zone, result}).Inc()
}

// ClamdScan records how long clamd took to answer once a message's data
// was sent.
func (m *Metrics) ClamdScan(d time.Duration) {
	if m != nil {
		m.clamdScanObserve(d)
	}
}

func (m *Metrics) clamdScanObserve(d time.Duration) { m.clamdScan.Observe(d.Seconds()) }

// ClamdSession counts a clamd session started on a new connection or on
// one kept from an earlier message.
func (m *Metrics) ClamdSession(reused bool) {
	if m != nil {
		i := 0
		if reused {
			i = 1
		}
		m.clamdConns[i].Inc()
	}
}

// ClamdUp records whether the clamd at addr answers.
func (m *Metrics) ClamdUp(addr string, up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.clamdUp.WithLabelValues(addr).Set(v)
	}
}

// DNSBLZoneUp records whether a DNSBL zone's lookups are answered.
func (m *Metrics) DNSBLZoneUp(zone string, up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.dnsblUp.WithLabelValues(zone).Set(v)
	}
}

// ClamdCache counts a part looked up in the verdict cache.
func (m *Metrics) ClamdCache(hit bool) {
	if m != nil {
		i := 1
		if hit {
			i = 0
		}
		m.clamdCache[i].Inc()
	}
}

// ClamdError counts a scan that ended without a verdict, by kind:
// connect, timeout, protocol, size_limit or other.
func (m *Metrics) ClamdError(kind string) {
	if m != nil {
		inc(&m.clamdErrors, kind)
	}
}

// StoreError counts a failed call to the rate-limit store, by operation.
func (m *Metrics) StoreError(op string) {
	if m != nil {
		inc(&m.storeErrors, op)
	}
}

// StoreUp records whether the Redis store named store (its URL without
// passwords, from the configuration) answers. It is called when the
// store's state changes, not once per call.
func (m *Metrics) StoreUp(store string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.storeUp.WithLabelValues(store).Set(v)
}

// StoreGone drops the series of a store that no configuration uses any
// more.
func (m *Metrics) StoreGone(store string) {
	if m != nil {
		m.storeUp.DeleteLabelValues(store)
	}
}

// HistoryDropped counts n decisions the history did not keep.
func (m *Metrics) HistoryDropped(n int) {
	if m != nil {
		m.historyDrop.Add(float64(n))
	}
}

// HistoryUp records whether the history store named store takes writes.
// It is called when its state changes, not once per write.
func (m *Metrics) HistoryUp(store string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.historyUp.WithLabelValues(store).Set(v)
}

// HistoryGone drops the series of a history store no longer written to.
func (m *Metrics) HistoryGone(store string) {
	if m != nil {
		m.historyUp.DeleteLabelValues(store)
	}
}

// SessionStart counts a milter connection opened by the MTA.
func (m *Metrics) SessionStart() {
	if m != nil {
		m.sessions.Inc()
	}
}

// SessionEnd counts a milter connection closed.
func (m *Metrics) SessionEnd() {
	if m != nil {
		m.sessions.Dec()
	}
}

// Reload records the result of a configuration reload: a success also
// dates the configuration in force.
func (m *Metrics) Reload(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
}

// inc increments the counter of c for k.
func inc[K comparable](c *children[K, prometheus.Counter], k K) { c.get(k).Inc() }

// children holds the series of a vector by their label values, resolved
// once: a vector's own lookup hashes the values and allocates their slice
// at every call, where this is one map read without a lock. The map is
// replaced, never changed, when a set of values is first seen; that is
// rare, since the sets are bounded.
type children[K comparable, C any] struct {
	cur      atomic.Pointer[map[K]C]
	mu       sync.Mutex // serialises additions
	newChild func(K) C
}

func (c *children[K, C]) init(newChild func(K) C) {
	c.newChild = newChild
	empty := map[K]C{}
	c.cur.Store(&empty)
}

// get returns the series for k, making it the first time.
func (c *children[K, C]) get(k K) C {
	if v, ok := (*c.cur.Load())[k]; ok {
		return v
	}
	return c.add(k)
}

func (c *children[K, C]) add(k K) C {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.cur.Load()
	if v, ok := old[k]; ok {
		return v
	}
	v := c.newChild(k)
	next := make(map[K]C, len(old)+1)
	for key, val := range old {
		next[key] = val
	}
	next[k] = v
	c.cur.Store(&next)
	return v
}
