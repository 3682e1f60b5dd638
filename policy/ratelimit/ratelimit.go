// Package ratelimit counts events per key over a sliding window, for rules
// such as "repeated sending to the same recipient in a short time".
//
// A rule checks with Count at RCPT time, without counting, and calls Add only
// once the message is finally accepted, so that rejected attempts do not use
// up the allowance. Two stores implement Store: Memory, for one host, and
// Redis, shared by several MX hosts.
//
// The package only counts: it does not decide what exceeding a limit means
// (the rule's action does), and it knows nothing about milter or SMTP. Count
// and Add are separate calls, so concurrent messages may both pass the check
// before either is counted; the limit is a threshold, not a reservation.
package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// MaxEvents is the most events a store keeps for one key; older events are
// dropped beyond it, so a count never exceeds MaxEvents.
const MaxEvents = 10000

// Store records events per key and counts them over a sliding window. An
// event counts while it is younger than the window: one exactly window old
// no longer does. A key is meant to be used with one window; the window given
// to Add also bounds how long the key's events are kept.
type Store interface {
	// Count returns how many events for key were recorded within the last window.
	Count(ctx context.Context, key string, window time.Duration) (int, error)
	// Add records n events for key now (n ≥ 1), for a window.
	Add(ctx context.Context, key string, window time.Duration, n int) error
	// Close releases the store's resources.
	Close() error
}

// Key kinds accepted by Key.
const (
	KindSenderRecipient = "sender+recipient" // one envelope sender to one recipient
	KindClientRecipient = "client+recipient" // one client address to one recipient
	KindSender          = "sender"           // one envelope sender, any recipient
	KindClient          = "client"           // one client address, any recipient
	KindRecipient       = "recipient"        // one recipient, from anyone
)

// NullSender is how the null reverse-path (RFC 5321 section 4.5.5) appears in
// keys: all bounces to one recipient are limited together.
const NullSender = "<>"

// Key builds the store key for a kind from the client address and the
// envelope sender and recipient. Addresses are lower-cased whole (local parts
// are case-insensitive in practice), surrounding angle brackets are removed,
// and the null sender, "" or "<>", becomes NullSender. The client address is
// written in canonical form (Postfix's "IPv6:" prefix removed). Only the parts
// the kind uses are required; the result starts with the kind. An unknown
// kind or a missing client or recipient is an error.
func Key(kind string, client, sender, rcpt string) (string, error) {
	switch kind {
	case KindSenderRecipient:
		r, err := recipient(rcpt)
		if err != nil {
			return "", err
		}
		return join(kind, senderPart(sender), r), nil
	case KindClientRecipient:
		c, err := clientPart(client)
		if err != nil {
			return "", err
		}
		r, err := recipient(rcpt)
		if err != nil {
			return "", err
		}
		return join(kind, c, r), nil
	case KindSender:
		return join(kind, senderPart(sender)), nil
	case KindClient:
		c, err := clientPart(client)
		if err != nil {
			return "", err
		}
		return join(kind, c), nil
	case KindRecipient:
		r, err := recipient(rcpt)
		if err != nil {
			return "", err
		}
		return join(kind, r), nil
	default:
		return "", fmt.Errorf("ratelimit: unknown key kind %q (want %s, %s, %s, %s or %s)", kind,
			KindSenderRecipient, KindClientRecipient, KindSender, KindClient, KindRecipient)
	}
}

func address(a string) string {
	a = strings.TrimSpace(a)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = strings.TrimSpace(a[1 : len(a)-1])
	}
	return strings.ToLower(a)
}

func senderPart(s string) string {
	if s = address(s); s == "" {
		return NullSender
	}
	return s
}

func recipient(r string) (string, error) {
	if r = address(r); r == "" {
		return "", errors.New("ratelimit: empty recipient")
	}
	return r, nil
}

func clientPart(c string) (string, error) {
	c = strings.TrimSpace(c)
	if len(c) >= 5 && strings.EqualFold(c[:5], "IPv6:") {
		c = c[5:]
	}
	c = strings.TrimSuffix(strings.TrimPrefix(c, "["), "]")
	if c == "" {
		return "", errors.New("ratelimit: empty client address")
	}
	if ip, err := netip.ParseAddr(c); err == nil {
		return ip.Unmap().WithZone("").String(), nil
	}
	return strings.ToLower(c), nil
}

// join writes the kind and the parts separated by "|", escaping "%", "|"
// and control characters in the parts so that distinct parts never make the
// same key.
func join(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(':')
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('|')
		}
		for j := 0; j < len(p); j++ {
			switch c := p[j]; {
			case c == '%' || c == '|' || c < 0x20 || c == 0x7f:
				fmt.Fprintf(&b, "%%%02X", c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// Digest returns the store key for key, as Key builds it: the kind in
// clear, then the first 128 bits of an HMAC-SHA-256 of the whole key under
// secret, in hex ("sender+recipient:3f5c…"). Whoever reads the store sees
// how many events each digest had, not the addresses or who mailed whom;
// without the secret, an address cannot be tested against the digests
// either. Hosts sharing a store must share the secret, or they count
// apart. An empty secret still hides the addresses from a glance, but
// anyone who guesses an address can compute its digest.
func Digest(secret []byte, key string) string {
	kind, _, _ := strings.Cut(key, ":")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(key))
	return kind + ":" + hex.EncodeToString(mac.Sum(nil)[:16])
}

// checkArgs validates the arguments every store shares.
func checkArgs(key string, window time.Duration, n int) error {
	if key == "" {
		return errors.New("ratelimit: empty key")
	}
	if window <= 0 {
		return fmt.Errorf("ratelimit: window %v: must be positive", window)
	}
	if n < 1 {
		return fmt.Errorf("ratelimit: adding %d events: must be at least 1", n)
	}
	return nil
}
