package dnsbl

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// replyFunc builds the reply to req; nil means no reply at all.
type replyFunc func(req *dns.Msg, tcp bool) *dns.Msg

// testServer is a DNS server on loopback, UDP and TCP on the same port, that
// counts the queries it receives.
type testServer struct {
	addr  string
	stop  chan struct{}
	mu    sync.Mutex
	reply replyFunc
	delay time.Duration
	count map[string]int
}

// startServer starts a testServer stopped at the end of the test.
func startServer(tb testing.TB, reply replyFunc) *testServer {
	tb.Helper()
	s := &testServer{stop: make(chan struct{}), reply: reply, count: map[string]int{}}
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
	s.addr = pc.LocalAddr().String()
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

func (s *testServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	q := req.Question[0]
	s.mu.Lock()
	s.count[key(tcp, q.Qtype, q.Name)]++
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

func key(tcp bool, qtype uint16, name string) string {
	n := "udp"
	if tcp {
		n = "tcp"
	}
	return n + " " + dns.TypeToString[qtype] + " " + strings.ToLower(name)
}

// setDelay makes the server wait d before each reply.
func (s *testServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// queries returns how many queries of qtype for name came over UDP and TCP.
func (s *testServer) queries(qtype uint16, name string) (udp, tcp int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[key(false, qtype, name)], s.count[key(true, qtype, name)]
}

// total returns the number of queries received.
func (s *testServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.count {
		n += c
	}
	return n
}

// record is what the test zones hold for one name.
type record struct {
	codes []string
	ttl   uint32
	txt   []string
	rcode int
}

// zoneReply answers from recs; other names get NXDOMAIN with an SOA whose
// TTL is soaTTL and MINIMUM is soaMin.
func zoneReply(recs map[string]record, soaTTL, soaMin uint32) replyFunc {
	return func(req *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		rec, ok := recs[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa(q.Name, soaTTL, soaMin)}
			return m
		}
		if rec.rcode != dns.RcodeSuccess {
			m.Rcode = rec.rcode
			return m
		}
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: rec.ttl}
		switch q.Qtype {
		case dns.TypeA:
			for _, c := range rec.codes {
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(c)})
			}
		case dns.TypeTXT:
			if rec.txt != nil {
				hdr.Rrtype = dns.TypeTXT
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: rec.txt})
			}
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{soa(q.Name, soaTTL, soaMin)}
		}
		return m
	}
}

// soa returns an SOA record for the parent of name.
func soa(name string, ttl, minttl uint32) dns.RR {
	return &dns.SOA{
		Hdr:    dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:     "ns.test.",
		Mbox:   "hostmaster.test.",
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: minttl,
	}
}
