package testkit

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// ReplyFunc builds the reply to req, received over TCP when tcp is true;
// nil means no reply at all, as from a server that drops the query.
type ReplyFunc func(req *dns.Msg, tcp bool) *dns.Msg

// DNSServer is a DNS server on 127.0.0.1, UDP and TCP on the same free
// port, that counts the queries it receives.
type DNSServer struct {
	Addr string // 127.0.0.1:PORT

	stop  chan struct{}
	mu    sync.Mutex
	reply ReplyFunc
	delay time.Duration
	count map[string]int
}

// StartDNS starts a server answering with reply, stopped at the end of
// the test.
func StartDNS(tb testing.TB, reply ReplyFunc) *DNSServer {
	tb.Helper()
	s := &DNSServer{stop: make(chan struct{}), reply: reply, count: map[string]int{}}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if i == 20 {
			tb.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	servers := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	tb.Cleanup(func() {
		close(s.stop)
		for _, srv := range servers {
			srv.Shutdown()
		}
	})
	return s
}

func (s *DNSServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	q := req.Question[0]
	s.mu.Lock()
	s.count[queryKey(tcp, q.Qtype, q.Name)]++
	reply, delay := s.reply, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-s.stop:
			return
		}
	}
	m := reply(req, tcp)
	if m == nil {
		<-s.stop
		return
	}
	w.WriteMsg(m)
}

func queryKey(tcp bool, qtype uint16, name string) string {
	n := "udp"
	if tcp {
		n = "tcp"
	}
	return n + " " + dns.TypeToString[qtype] + " " + strings.ToLower(name)
}

// SetDelay makes the server wait d before each reply.
func (s *DNSServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Queries returns how many queries of qtype for name came over UDP and
// over TCP.
func (s *DNSServer) Queries(qtype uint16, name string) (udp, tcp int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[queryKey(false, qtype, name)], s.count[queryKey(true, qtype, name)]
}

// Total returns the number of queries received.
func (s *DNSServer) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.count {
		n += c
	}
	return n
}

// Record is what a zone holds for one query name.
type Record struct {
	A     []string // answers to A queries, e.g. "127.0.0.2"
	TXT   []string // the strings of one TXT answer; none when nil
	TTL   uint32   // of the answers
	Rcode int      // an error rcode instead of an answer, e.g. dns.RcodeServerFailure
}

// ZoneReply answers from recs, keyed by lower-case fully qualified name.
// Other names get NXDOMAIN, and names without an answer of the type asked
// NOERROR with no answer; both carry an SOA whose TTL is soaTTL and whose
// MINIMUM is soaMin, from which a resolver takes how long to keep a
// negative answer (RFC 2308 section 5).
func ZoneReply(recs map[string]Record, soaTTL, soaMin uint32) ReplyFunc {
	return func(req *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		rec, ok := recs[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa(soaTTL, soaMin)}
			return m
		}
		if rec.Rcode != dns.RcodeSuccess {
			m.Rcode = rec.Rcode
			return m
		}
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: rec.TTL}
		switch q.Qtype {
		case dns.TypeA:
			for _, a := range rec.A {
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(a)})
			}
		case dns.TypeTXT:
			if rec.TXT != nil {
				hdr.Rrtype = dns.TypeTXT
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: rec.TXT})
			}
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{soa(soaTTL, soaMin)}
		}
		return m
	}
}

// soa returns the SOA record of the test zones' parent, "test.", with
// the given TTL and MINIMUM.
func soa(ttl, minttl uint32) dns.RR {
	return &dns.SOA{
		Hdr:    dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:     "ns.test.",
		Mbox:   "hostmaster.test.",
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: minttl,
	}
}
