package milter_test

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/milter"
)

// packet frames one milter command.
var packet = milter.Packet

// waitClosed reads from c until the server closes it and returns how long
// that took, failing after limit.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection was still open after %v", limit)
			}
			return time.Since(start)
		}
	}
}

// TestWriteDeadline: an MTA that sends and never reads the replies is cut
// off once a reply cannot be written within write_timeout.
func TestWriteDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the loopback buffers with megabytes of replies, which takes seconds: run without -short")
	}
	addr, logs := startServer(t, "write_timeout = \"500ms\"\n"+baseConfig)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	helo := packet('H', "client.example.net\x00")
	var batch []byte
	for range 1000 {
		batch = append(batch, helo...)
	}
	// How long the server takes to fill the buffers of the loopback
	// connection with replies (megabytes of them) depends on the machine
	// and its load, not on write_timeout: the bound only tells a server
	// that never cuts the connection from one that does.
	start := time.Now()
	for {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(batch); err != nil {
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatal("the server still reads after 90 s of replies nobody reads")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "MTA reads no replies"); {
		if time.Now().After(deadline) {
			t.Fatalf("not logged:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPacketDeadline: a packet must arrive whole within read_timeout of
// its start, however steadily its bytes trickle in.
func TestPacketDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("trickles a packet in past a 1 s read_timeout, which takes seconds: run without -short")
	}
	addr, logs := startServer(t, "read_timeout = \"1s\"\n"+baseConfig)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := packet('H', strings.Repeat("x", 60)+"\x00")
	c.Write(p[:5])
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range p[5:] {
			time.Sleep(200 * time.Millisecond)
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	if d := waitClosed(t, c, 5*time.Second); d < 800*time.Millisecond || d > 3*time.Second {
		t.Errorf("closed after %v, want about the 1s read_timeout", d)
	}
	<-done
	if !strings.Contains(logs.String(), "MTA too slow") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("not logged at warning level:\n%s", logs.String())
	}

	// Between packets, the same timeout is the idle timeout.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if d := waitClosed(t, c2, 5*time.Second); d > 3*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
}

// TestProtocolErrorsLogged: a packet go-milter cannot read is logged at
// warning level with the MTA's address, once.
func TestProtocolErrorsLogged(t *testing.T) {
	addr, logs := startServer(t, baseConfig)
	for _, junk := range [][]byte{{0xff, 0xff, 0xff, 0xff, 'x'}, packet('Z', "zzz")} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(junk)
		waitClosed(t, c, 5*time.Second)
		c.Close()
	}
	for _, want := range []string{"packet length 4294967295 outside", `unknown command 'Z'`} {
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("%q not logged:\n%s", want, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "milter protocol error") && (!strings.Contains(line, "level=WARN") || !strings.Contains(line, "mta=127.0.0.1:")) {
			t.Errorf("line without level or MTA: %s", line)
		}
	}
}

// TestLibraryLog: go-milter's lines go to the log at warning level, but
// not those about an error the connection logged already.
func TestLibraryLog(t *testing.T) {
	var b strings.Builder
	w := milter.LibraryLog(slog.New(slog.NewTextHandler(&b, nil)))
	fmt.Fprintln(w, "Error reading milter command: milter connection #7: packet length 0 outside 1..1048576")
	fmt.Fprintln(w, "Error performing milter command: milter: malformed connect command")
	out := b.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "malformed connect command") {
		t.Errorf("log:\n%s", out)
	}
}
