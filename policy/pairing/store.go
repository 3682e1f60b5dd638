package pairing

import (
	"context"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Store keeps, for a short time, what pairing needs: the encrypted
// archives waiting for their password, by sender and recipient, and the
// password candidates sent for them. Candidates are kept only for a pair
// with an archive waiting, and only until the archive is decided or ttl
// passes: they are secrets.
type Store interface {
	// Wait records that sender's archive id waits for a password for
	// rcpt, and returns when it was first seen (now, the first time).
	Wait(ctx context.Context, sender, rcpt, id string, now time.Time, ttl time.Duration) (first time.Time, err error)
	// Waiting reports whether sender has an archive waiting for rcpt.
	Waiting(ctx context.Context, sender, rcpt string, now time.Time) (bool, error)
	// AddCandidates keeps candidates for the pair until ttl; at most
	// MaxCandidates are kept, the latest.
	AddCandidates(ctx context.Context, sender, rcpt string, cands []string, now time.Time, ttl time.Duration) error
	// Candidates returns the candidates kept for the pair, and whether
	// an archive of the pair waits.
	Candidates(ctx context.Context, sender, rcpt string, now time.Time) (cands []string, waiting bool, err error)
	// Done forgets archive id, and the pair's candidates once no archive
	// of the pair waits.
	Done(ctx context.Context, sender, rcpt, id string) error
}

// Memory is a Store in the process's memory: it does not survive a
// restart, and each MX host has its own.
type Memory struct {
	mu    sync.Mutex
	pairs *lru.Cache[string, *pair]
}

type pair struct {
	archives   map[string]archive // by id
	candidates []string
	candUntil  time.Time
}

type archive struct{ first, until time.Time }

// NewMemory returns a memory store holding at most size sender/recipient
// pairs; the least recently used go first.
func NewMemory(size int) *Memory {
	c, _ := lru.New[string, *pair](size)
	return &Memory{pairs: c}
}

func pairKey(sender, rcpt string) string { return sender + "\x00" + rcpt }

// live returns the pair with what has expired dropped, nil when nothing
// is left.
func (s *Memory) live(key string, now time.Time) *pair {
	p, ok := s.pairs.Get(key)
	if !ok {
		return nil
	}
	for id, a := range p.archives {
		if !now.Before(a.until) {
			delete(p.archives, id)
		}
	}
	if !now.Before(p.candUntil) || len(p.archives) == 0 {
		p.candidates = nil
	}
	if len(p.archives) == 0 {
		s.pairs.Remove(key)
		return nil
	}
	return p
}

func (s *Memory) Wait(_ context.Context, sender, rcpt, id string, now time.Time, ttl time.Duration) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pairKey(sender, rcpt)
	p := s.live(key, now)
	if p == nil {
		p = &pair{archives: map[string]archive{}}
		s.pairs.Add(key, p)
	}
	a, ok := p.archives[id]
	if !ok {
		a = archive{first: now, until: now.Add(ttl)}
		p.archives[id] = a
	}
	return a.first, nil
}

func (s *Memory) Waiting(_ context.Context, sender, rcpt string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live(pairKey(sender, rcpt), now) != nil, nil
}

func (s *Memory) AddCandidates(_ context.Context, sender, rcpt string, cands []string, now time.Time, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.live(pairKey(sender, rcpt), now)
	if p == nil {
		return nil // no archive waits: nothing to keep
	}
	for _, c := range cands {
		if i := slices.Index(p.candidates, c); i >= 0 {
			p.candidates = slices.Delete(p.candidates, i, i+1)
		}
		p.candidates = append(p.candidates, c)
	}
	if over := len(p.candidates) - MaxCandidates; over > 0 {
		p.candidates = p.candidates[over:]
	}
	p.candUntil = now.Add(ttl)
	return nil
}

func (s *Memory) Candidates(_ context.Context, sender, rcpt string, now time.Time) ([]string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.live(pairKey(sender, rcpt), now)
	if p == nil {
		return nil, false, nil
	}
	return slices.Clone(p.candidates), true, nil
}

func (s *Memory) Done(_ context.Context, sender, rcpt, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pairKey(sender, rcpt)
	p, ok := s.pairs.Get(key)
	if !ok {
		return nil
	}
	delete(p.archives, id)
	if len(p.archives) == 0 {
		s.pairs.Remove(key)
	}
	return nil
}
