package mbimtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// host is a minimal raw MBIM host for the tests: it builds requests with
// the mbim package and reads replies through NextMessage and a
// Reassembler, so that the simulator is checked against the codec, not
// against itself.
type host struct {
	t     testing.TB
	tr    mbim.Transport
	buf   []byte
	chunk []byte
	reasm *mbim.Reassembler
	tid   uint32
	ver   mbim.Version // layouts to decode with
	inds  []mbim.Message
	// garbage counts stream errors (malformed messages) seen by next.
	garbage int
	fragErr []error
}

func newHost(t testing.TB, tr mbim.Transport) *host {
	t.Cleanup(func() { _ = tr.Close() })
	return &host{t: t, tr: tr, chunk: make([]byte, 8192), reasm: mbim.NewReassembler(0), ver: mbim.MBIMEx1}
}

// dial serves a new pipe host.
func dial(t testing.TB, s *Sim) *host { return newHost(t, s.ServePipe()) }

// newSim is New with Close at the end of the test.
func newSim(t testing.TB, opts ...Option) *Sim {
	s := New(opts...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (h *host) send(b []byte) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.tr.WriteControl(ctx, b); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

// errTimeout is what next returns when nothing complete arrives in time.
var errTimeout = errors.New("timeout")

// next returns the next complete message (a private copy), reassembling
// fragments.
func (h *host) next(d time.Duration) (mbim.Message, error) {
	deadline := time.Now().Add(d)
	for {
		for len(h.buf) > 0 {
			m, n, err := mbim.NextMessage(h.buf)
			if errors.Is(err, mbim.ErrIncomplete) {
				break
			}
			h.buf = h.buf[n:]
			if err != nil {
				h.garbage++
				continue
			}
			full, complete, err := h.reasm.Add(m)
			if err != nil {
				h.fragErr = append(h.fragErr, err)
				continue
			}
			if complete {
				cp, _ := mbim.ParseMessage(append([]byte(nil), full.Bytes()...))
				return cp, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return mbim.Message{}, errTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), left)
		n, err := h.tr.ReadControl(ctx, h.chunk)
		timedOut := ctx.Err() != nil
		cancel()
		h.buf = append(h.buf, h.chunk[:n]...)
		if err != nil && n == 0 {
			if timedOut {
				return mbim.Message{}, errTimeout
			}
			return mbim.Message{}, err
		}
	}
}

func (h *host) mustNext() mbim.Message {
	h.t.Helper()
	m, err := h.next(5 * time.Second)
	if err != nil {
		h.t.Fatalf("read: %v", err)
	}
	return m
}

func (h *host) nextTID() uint32 { h.tid++; return h.tid }

// open sends OPEN and waits for OPEN_DONE, collecting indications.
func (h *host) open(max uint32) {
	h.t.Helper()
	tid := h.nextTID()
	h.send(mbim.AppendOpen(nil, tid, max))
	m := h.reply(tid)
	if m.Type() != mbim.TypeOpenDone || m.Status() != mbim.StatusSuccess {
		h.t.Fatalf("OPEN: got %v status %v", m.Type(), m.Status())
	}
	h.ver = mbim.MBIMEx1
}

// reply reads until the reply to tid, keeping indications.
func (h *host) reply(tid uint32) mbim.Message {
	h.t.Helper()
	for {
		m := h.mustNext()
		if m.Type() == mbim.TypeIndicateStatus {
			h.inds = append(h.inds, m)
			continue
		}
		if m.TransactionID() == tid {
			return m
		}
		h.t.Fatalf("unexpected %v tid %d while waiting for tid %d", m.Type(), m.TransactionID(), tid)
	}
}

// call sends a COMMAND and returns its reply.
func (h *host) call(svc mbim.UUID, cid uint32, ct mbim.CommandType, body mbim.InfoAppender) mbim.Message {
	h.t.Helper()
	if body == nil {
		body = (*mbim.Empty)(nil)
	}
	tid := h.nextTID()
	b, err := mbim.AppendCommandInfo(nil, tid, svc, cid, ct, body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.send(b)
	return h.reply(tid)
}

// ok is call that demands COMMAND_DONE SUCCESS and decodes the body into
// out (when out is not nil).
func (h *host) ok(svc mbim.UUID, cid uint32, ct mbim.CommandType, body mbim.InfoAppender, out mbim.Body) mbim.Message {
	h.t.Helper()
	m := h.call(svc, cid, ct, body)
	if m.Type() != mbim.TypeCommandDone || m.Status() != mbim.StatusSuccess {
		h.t.Fatalf("%s/%s: got %v status %v code %v", mbim.ServiceName(svc), mbim.CIDName(svc, cid), m.Type(), m.Status(), m.ErrorCode())
	}
	if out != nil {
		if err := out.Decode(m.InformationBuffer()); err != nil {
			h.t.Fatalf("%s/%s: decode %T: %v", mbim.ServiceName(svc), mbim.CIDName(svc, cid), out, err)
		}
	}
	return m
}

// query is ok with CommandQuery.
func (h *host) query(cid uint32, body mbim.InfoAppender, out mbim.Body) {
	h.t.Helper()
	h.ok(mbim.ServiceBasicConnect, cid, mbim.CommandQuery, body, out)
}

// set is ok with CommandSet.
func (h *host) set(cid uint32, body mbim.InfoAppender, out mbim.Body) {
	h.t.Helper()
	h.ok(mbim.ServiceBasicConnect, cid, mbim.CommandSet, body, out)
}

// negotiate runs the VERSION exchange and adopts the answer.
func (h *host) negotiate(want mbim.Version) mbim.Version {
	h.t.Helper()
	var vi mbim.MsVersionInfo
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsVersion, mbim.CommandQuery,
		&mbim.MsVersionInfo{MbimVersion: 0x0100, MbimExtendedVersion: uint16(want)}, &vi)
	h.ver = mbim.Version(vi.MbimExtendedVersion)
	return h.ver
}

// drain reads what arrives within d (indications, mostly) into h.inds and
// returns the messages read.
func (h *host) drain(d time.Duration) []mbim.Message {
	var out []mbim.Message
	for {
		m, err := h.next(d)
		if err != nil {
			return out
		}
		out = append(out, m)
		if m.Type() == mbim.TypeIndicateStatus {
			h.inds = append(h.inds, m)
		}
	}
}

// takeInds returns and forgets the indications collected so far, after
// reading what arrives within d.
func (h *host) takeInds(d time.Duration) []mbim.Message {
	h.drain(d)
	out := h.inds
	h.inds = nil
	return out
}

// decodeInd decodes an indication with the host's version.
func (h *host) decodeInd(m mbim.Message) mbim.Body {
	h.t.Helper()
	d, err := mbim.DecodeMessage(m, h.ver)
	if err != nil || d.Body == nil {
		h.t.Fatalf("decode indication %s: %v", mbim.CIDName(m.Service(), m.CID()), err)
	}
	return d.Body
}

// cidNames lists the CIDs of indications, for comparisons.
func cidNames(ms []mbim.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, mbim.CIDName(m.Service(), m.CID()))
	}
	return out
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sync makes a round trip (DEVICE_CAPS): everything queued before it, the
// indications of a scenario step for one, has arrived when it returns.
func (h *host) sync() {
	h.t.Helper()
	h.query(mbim.CIDDeviceCaps, nil, nil)
}

// takeSynced returns the indications queued so far, after a sync.
func (h *host) takeSynced() []mbim.Message {
	h.t.Helper()
	h.sync()
	out := h.inds
	h.inds = nil
	return out
}
