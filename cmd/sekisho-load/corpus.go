package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// corpusMessage is a message read from a file: its envelope, its header
// fields as the MTA passes them on, and its body in CRLF lines.
type corpusMessage struct {
	name    string
	sender  string   // "" when the file names none
	rcpts   []string // nil when the file names none
	headers [][2]string
	body    []byte
}

// loadCorpus reads every .eml file of dir, in name order. The envelope of
// a message comes from its Return-Path and To and Cc fields; a message
// without them takes the generator's default envelope.
func loadCorpus(dir string) ([]corpusMessage, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .eml files", dir)
	}
	slices.Sort(files)
	var out []corpusMessage
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := parseMessage(filepath.Base(f), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseMessage splits a message into envelope, header fields and body.
func parseMessage(name string, data []byte) (corpusMessage, error) {
	data = crlf(data)
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return corpusMessage{}, err
	}
	m := corpusMessage{name: name}
	fields := h.Fields()
	for fields.Next() {
		k, v := fields.Key(), fields.Value()
		switch strings.ToLower(k) {
		case "return-path":
			if a, err := mail.ParseAddress(v); err == nil {
				m.sender = a.Address
			}
			continue // the MTA adds it at delivery
		case "to", "cc":
			if list, err := mail.ParseAddressList(v); err == nil {
				for _, a := range list {
					m.rcpts = append(m.rcpts, a.Address)
				}
			}
		}
		m.headers = append(m.headers, [2]string{k, v})
	}
	// ReadHeader returns fields last to first.
	slices.Reverse(m.headers)
	rest := new(bytes.Buffer)
	rest.ReadFrom(br)
	m.body = rest.Bytes()
	return m, nil
}

// crlf turns lone LF line ends into CRLF, as Postfix passes mail on.
func crlf(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\r\n")) == bytes.Count(b, []byte("\n")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
