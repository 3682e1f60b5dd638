package milter_test

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	client "github.com/d--j/go-milter"

	"github.com/sekisho/sekisho/milter"
)

// noReplies are the replies an MTA is told not to expect.
const noReplies = client.OptNoHeaderReply | client.OptNoBodyReply

// TestNoReplyNegotiated: an MTA that offers it is told that header fields,
// body chunks or both get no reply; one that does not offer it gets every
// reply, as before. Both dialogues
// stay in step over messages of many header fields and body chunks,
// accepted and refused.
func TestNoReplyNegotiated(t *testing.T) {
	addr, logs := startServer(t, baseConfig+"\n[rules.attachment_extension]\ndeny = [\"exe\"]\n")
	all := client.OptProtocol(0x1fffff) // what Postfix and Sendmail offer (SMFI_CURR_PROT)
	for _, tt := range []struct {
		name    string
		offered client.OptProtocol
		want    client.OptProtocol
	}{
		{"offered", all, noReplies},
		{"not offered", all &^ noReplies, 0},
		{"header fields only", all &^ client.OptNoBodyReply, client.OptNoHeaderReply},
		{"body only", all &^ client.OptNoHeaderReply, client.OptNoBodyReply},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := client.NewClient("tcp", addr, client.WithProtocols(tt.offered),
				client.WithActions(client.OptAddHeader|client.OptChangeHeader|client.OptQuarantine|client.OptSetMacros))
			macros := client.NewMacroBag()
			macros.Set(client.MacroClientAddr, "192.0.2.1")
			s, err := c.Session(macros)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, p := range []client.OptProtocol{client.OptNoHeaderReply, client.OptNoBodyReply} {
				if got := s.ProtocolOption(p); got != (tt.want&p != 0) {
					t.Errorf("protocol option %#x negotiated: %v", p, got)
				}
			}
			m := &mta{t: t, s: s, macros: macros}
			m.ok(s.Conn("client.example", client.FamilyInet, 25, "192.0.2.1"))
			m.ok(s.Helo("client.example"))
			headers := append([][2]string{}, plain...)
			for range 50 {
				headers = append(headers, [2]string{"X-Extra", strings.Repeat("v", 60)})
			}
			headers = append(headers, [2]string{"Content-Type", "multipart/mixed; boundary=b"})
			// About 290 KB: five body chunks.
			body := func(name string) string {
				return "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文\r\n--b\r\n" +
					"Content-Type: application/octet-stream; name=" + name + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
					strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 8000) + "--b--\r\n"
			}
			for i, name := range []string{"a.pdf", "a.exe", "b.pdf", "b.exe", "c.pdf"} {
				m.mail("sender@example.com")
				if r := m.rcpt("user@example.co.jp"); r != "" {
					t.Fatalf("message %d: rcpt refused: %s", i, r)
				}
				got, _ := m.data(headers, body(name))
				if refused := strings.HasSuffix(name, ".exe"); refused != strings.HasPrefix(got, "550 5.7.1") || !refused && got != "" {
					t.Fatalf("message %d (%s): end of message %q", i, name, got)
				}
			}
		})
	}
	if l := logs.String(); strings.Contains(l, "milter protocol error") {
		t.Errorf("protocol errors:\n%s", l)
	}
}

// TestNoReplyPackets: with the flags negotiated, the MTA sends header
// fields and body chunks back to back and reads replies only to the other
// packets: none is written to a header field or a body chunk.
func TestNoReplyPackets(t *testing.T) {
	addr, _ := startServer(t, baseConfig)
	c := negotiateNoReply(t, addr)
	var batch []byte
	batch = append(batch, packet('M', "<a@example.com>\x00")...)
	batch = append(batch, packet('R', "<user@example.co.jp>\x00")...)
	for range 20 {
		batch = append(batch, packet('L', "Subject\x00件名\x00")...)
	}
	batch = append(batch, packet('N', "")...)
	for range 5 {
		batch = append(batch, packet('B', strings.Repeat("本文\r\n", 1000))...)
	}
	batch = append(batch, packet('E', "")...)
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for range 4 { // MAIL, RCPT, end of headers, end of message
		got = append(got, readPacket(t, c)[0])
	}
	if string(got) != "ccca" {
		t.Errorf("replies %q, want continue to MAIL, RCPT and end of headers, then accept", got)
	}
	// Nothing more: a reply to a header field or a body chunk would be here.
	c.Write(packet('Q', ""))
	if rest, _ := io.ReadAll(c); len(rest) > 0 {
		t.Errorf("more replies than packets that take one: %q", rest)
	}
}

// readPacket reads one milter packet and returns its command and data.
var readPacket = milter.ReadPacket

// TestNoReplyRenegotiated: what the MTA is told holds until it negotiates
// again on the same connection, and a negotiation too short to carry the
// MTA's flags is answered without them rather than waited on.
func TestNoReplyRenegotiated(t *testing.T) {
	addr, _ := startServer(t, baseConfig)
	c := dialMilter(t, addr)
	header := func() {
		t.Helper()
		if _, err := c.Write(append(packet('L', "Subject\x00x\x00"), packet('N', "")...)); err != nil {
			t.Fatal(err)
		}
	}
	if got := negotiated(t, c, offer(0x1fffff)); got != uint32(noReplies) {
		t.Fatalf("flags %#x, want %#x", got, noReplies)
	}
	header()
	if r := readPacket(t, c); r[0] != 'c' { // end of headers only
		t.Fatalf("reply %q", r)
	}
	// Too short to carry the MTA's flags: none is assumed offered.
	if got := negotiated(t, c, "\x00\x00\x00\x06"); got != 0 {
		t.Fatalf("flags %#x set from a negotiation without the MTA's", got)
	}
	header()
	for range 2 { // the header field's reply, then end of headers'
		if r := readPacket(t, c); r[0] != 'c' {
			t.Fatalf("reply %q", r)
		}
	}
	if got := negotiated(t, c, offer(0x1fffff)); got != uint32(noReplies) {
		t.Fatalf("flags %#x, want %#x", got, noReplies)
	}
	if got := negotiated(t, c, offer(0x1fffff&^uint32(noReplies))); got != 0 {
		t.Fatalf("flags %#x not offered were set", got)
	}
	header()
	for range 2 {
		if r := readPacket(t, c); r[0] != 'c' {
			t.Fatalf("reply %q", r)
		}
	}
}

// dialMilter opens a connection to the milter at addr, for packets sent
// by hand.
func dialMilter(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// offer is the data of an option negotiation: protocol 6, every action,
// and the protocol flags given.
func offer(flags uint32) string {
	b := binary.BigEndian.AppendUint32(nil, 6)
	b = binary.BigEndian.AppendUint32(b, 0x1ff)
	return string(binary.BigEndian.AppendUint32(b, flags))
}

// negotiated negotiates with data on c and returns the no-reply flags of
// the answer.
func negotiated(t *testing.T, c net.Conn, data string) uint32 {
	t.Helper()
	if _, err := c.Write(packet('O', data)); err != nil {
		t.Fatal(err)
	}
	reply := readPacket(t, c)
	if reply[0] != 'O' || len(reply) < 13 {
		t.Fatalf("negotiation answered %q", reply)
	}
	return binary.BigEndian.Uint32(reply[9:]) & uint32(noReplies)
}

// negotiateNoReply opens a connection to addr and negotiates as Postfix
// does, with every no-reply flag offered.
func negotiateNoReply(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dialMilter(t, addr)
	if got := negotiated(t, c, offer(0x1fffff)); got != uint32(noReplies) {
		t.Fatalf("protocol flags %#x lack SMFIP_NR_HDR and SMFIP_NR_BODY", got)
	}
	return c
}

// TestNoReplyBodyPackets: the body chunks the MTA expects no reply to are
// read by the connection itself, into a buffer used again: a chunk larger
// than the MTA's usual 64 KiB is read whole, each chunk is judged, and a
// chunk cut short or trickled in past read_timeout ends the connection
// with the reason logged, as any other packet.
func TestNoReplyBodyPackets(t *testing.T) {
	if testing.Short() {
		t.Skip("trickles a packet in past a 1 s read_timeout, which takes seconds: run without -short")
	}
	addr, logs := startServer(t, "read_timeout = \"1s\"\n"+baseConfig+"\n[rules.attachment_extension]\ndeny = [\"exe\"]\n")
	start := func(c net.Conn) {
		t.Helper()
		var b []byte
		b = append(b, packet('M', "<a@example.com>\x00")...)
		b = append(b, packet('R', "<user@example.co.jp>\x00")...)
		b = append(b, packet('L', "Subject\x00件名\x00")...)
		b = append(b, packet('L', "Content-Type\x00multipart/mixed; boundary=b\x00")...)
		b = append(b, packet('N', "")...)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if r := readPacket(t, c); r[0] != 'c' {
				t.Fatalf("reply %q", r)
			}
		}
	}
	// The .exe part sits past 64 KiB of a 200 KB chunk (read into a
	// buffer of its own); then in a chunk of its own, read into the
	// buffer that held 60 KB of text just before.
	text := "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	exe := "\r\n--b\r\nContent-Type: application/octet-stream; name=a.exe\r\n\r\nMZ\r\n--b--\r\n"
	for _, chunks := range [][]string{
		{text + strings.Repeat("本文です。\r\n", 12000) + exe},
		{text + strings.Repeat("本文です。\r\n", 3500), exe},
	} {
		c := negotiateNoReply(t, addr)
		start(c)
		var b []byte
		for _, ch := range chunks {
			b = append(b, packet('B', ch)...)
		}
		b = append(b, packet('E', "")...)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if r := readPacket(t, c); !strings.HasPrefix(string(r), "y550 ") {
			t.Errorf("%d chunks: end of message answered %q", len(chunks), r)
		}
	}

	c := negotiateNoReply(t, addr)
	start(c)
	c.Write(packet('B', strings.Repeat("x", 1000))[:500])
	c.(*net.TCPConn).CloseWrite()
	waitClosed(t, c, 5*time.Second)

	c = negotiateNoReply(t, addr)
	start(c)
	p := packet('B', strings.Repeat("x", 100))
	c.Write(p[:50])
	go func() {
		for _, b := range p[50:] {
			time.Sleep(200 * time.Millisecond)
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	if d := waitClosed(t, c, 5*time.Second); d > 3*time.Second {
		t.Errorf("closed after %v, want about the 1s read_timeout", d)
	}
	for _, want := range []string{"MTA closed the connection in the middle of a packet", "MTA too slow"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("%q not logged:\n%s", want, logs.String())
		}
	}
}
