package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// serveNull serves a milter that decides nothing, on the library sekisho is
// built on (its NoOpMilter: every event is asked for, every answer is
// continue, end of message accepts), on a TCP address until the process is
// killed. It measures the cost of the milter protocol itself, the floor of
// any milter.
func serveNull(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return gomilter.NoOpMilter{} },
		Actions:   gomilter.OptAddHeader | gomilter.OptQuarantine,
	}
	return s.Serve(ln)
}

// startNull runs the null milter in a child process of its own, so that
// its CPU time and memory are measured apart from the generator's, and
// returns its address and PID and a function that stops it.
func startNull() (addr string, pid int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr = ln.Addr().String()
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self, "-serve-null", addr)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "inet:" + addr, cmd.Process.Pid, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parsePID reads a "-pid" value: "PID", "NAME=PID" or "NAME=PID,PID,…"
// for a daemon of several processes (rspamd's workers), measured together.
func parsePID(v string) (name string, pids []int, err error) {
	name, nums, ok := strings.Cut(v, "=")
	if !ok {
		name, nums = "target", v
	}
	for num := range strings.SplitSeq(nums, ",") {
		pid, err := strconv.Atoi(num)
		if err != nil {
			return "", nil, err
		}
		pids = append(pids, pid)
	}
	return name, pids, nil
}
