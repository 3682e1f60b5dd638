package mime

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Where mail clients read the same bytes in more than one way (a multipart
// with two boundaries, a part with two Content-Type fields, a transfer
// encoding with a second value), the inspection reads them every way: the
// reading Thunderbird makes is the main one, and each other one is read
// by an inspector of its own, fed the same bytes as the main reading
// takes them, in a coroutine (a Stream) so that nothing is kept or read
// twice. What another reading finds is added to the Result: its
// attachments (marked with the reading), its gaps and its problems. The
// message is marked GapAmbiguous. Body text is judged on the main reading.

// maxReadings bounds the other readings of one message; beyond it a
// reading is not made and the message has a GapStructure.
const maxReadings = 8

// alsoRead has body read a second way, as another client reads it: read
// is run by a new inspector, over the bytes of body as the caller reads
// them through the returned reader. The caller calls finish when it is
// done with the body: it reads what the caller left of it, ends the other
// reading and adds its findings, labelled, to the Result.
func (in *inspector) alsoRead(body io.Reader, part, label string, read func(c *inspector, r io.Reader)) (io.Reader, func()) {
	if *in.readings >= maxReadings {
		in.gap(GapStructure, part, fmt.Sprintf("more than %d readings of the message: %s not read", maxReadings, label))
		return body, func() {}
	}
	*in.readings++
	s := startStream(func(r io.Reader, abort <-chan struct{}) (*Result, error) {
		c := in.child(r)
		c.abort = abort
		read(c, c.trap)
		if !c.stopped() {
			io.Copy(io.Discard, c.trap)
		}
		return c.res, nil
	})
	tee := io.TeeReader(body, s)
	return tee, func() {
		if in.trap.err != nil {
			s.Abort()
			return
		}
		io.Copy(io.Discard, tee)
		res, err := s.Close()
		in.merge(res, err, part, label)
	}
}

// child returns an inspector for another reading of r: no PartSink (the
// main reading hands its parts over), its own text facts (body text is
// judged on the main reading), the budgets left of this one.
func (in *inspector) child(r io.Reader) *inspector {
	c := newInspector(r, in.lim, nil, in.passwords)
	c.entryBudget, c.unpackBudget = in.entryBudget, in.unpackBudget
	c.readings = in.readings
	c.parts = in.parts
	return c
}

// merge adds what another reading found to the Result.
func (in *inspector) merge(res *Result, err error, part, label string) {
	if err != nil || res == nil {
		in.gap(GapStructure, part, fmt.Sprintf("%s: not read: %v", label, err))
		return
	}
	for _, a := range res.Attachments {
		if slices.ContainsFunc(in.res.Attachments, func(b Attachment) bool { return sameAttachment(a, b) }) {
			continue
		}
		if a.Reading == "" {
			a.Reading = label
		}
		in.res.Attachments = append(in.res.Attachments, a)
	}
	for _, g := range res.Uninspected {
		in.gap(g.Class, g.Part, g.Reason+" ("+label+")")
	}
	for _, p := range res.Problems {
		in.problem(p + " (" + label + ")")
	}
}

// sameAttachment reports whether two readings found the same attachment.
func sameAttachment(a, b Attachment) bool {
	return a.Part == b.Part && a.Filename == b.Filename && a.Size == b.Size &&
		a.Executable == b.Executable && a.ContentType == b.ContentType &&
		slices.Equal(a.OtherNames, b.OtherNames) && (a.Archive == nil) == (b.Archive == nil)
}

// quoteList quotes values for a gap reason: "a", "b".
func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
