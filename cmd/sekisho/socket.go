package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/sekisho/sekisho/policy"
)

// listenOn opens the configured socket and returns a function that removes
// it at exit. Only a unix socket is ever removed: a stale one left by a
// crash before listening, and at exit ours, if it is still the one this
// process made. Anything else at the path is an error that names it, and
// the file stays. The socket gets socket_mode and, when set, socket_group.
func listenOn(cfg *policy.Config) (net.Listener, func(), error) {
	network, addr, err := policy.ParseListen(cfg.Listen)
	if err != nil {
		return nil, nil, err
	}
	if network != "unix" {
		ln, err := net.Listen(network, addr)
		return ln, func() {}, err
	}
	if err := removeStaleSocket(addr); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, nil, err
	}
	// Closing must not unlink the path: removeSocket does, after checking.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, func(), error) {
		ln.Close()
		os.Remove(addr)
		return nil, nil, err
	}
	mode, _ := strconv.ParseUint(cfg.SocketMode, 8, 32)
	if err := os.Chmod(addr, os.FileMode(mode)); err != nil {
		return fail(err)
	}
	if cfg.SocketGroup != "" {
		gid, err := lookupGroup(cfg.SocketGroup)
		if err != nil {
			return fail(err)
		}
		if err := os.Chown(addr, -1, gid); err != nil {
			return fail(fmt.Errorf("socket_group %s: %w", cfg.SocketGroup, err))
		}
	}
	mine, err := os.Lstat(addr)
	if err != nil {
		return fail(err)
	}
	return ln, func() {
		ln.Close()
		if fi, err := os.Lstat(addr); err == nil && os.SameFile(fi, mine) {
			os.Remove(addr)
		}
	}, nil
}

// removeStaleSocket removes a unix socket at path that nothing listens on.
// A socket in use, or a file that is not a socket, is an error.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket (%s): not removed; remove it or choose another listen path", path, fileKind(fi))
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by another process", path)
	}
	return os.Remove(path)
}

// fileKind names the kind of a file for an error.
func fileKind(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return t.String()
	}
}

// lookupGroup returns the id of a group given by name or number.
func lookupGroup(g string) (int, error) {
	if id, err := strconv.Atoi(g); err == nil {
		return id, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, fmt.Errorf("socket_group: %w", err)
	}
	return strconv.Atoi(grp.Gid)
}
