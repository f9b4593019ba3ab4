package client

import (
	"strings"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Pion copies an answered simulcast section's rids into its re-offers as
// rids to receive; sendOnlyRIDs leaves the send lines alone.
func TestSendOnlyRIDs(t *testing.T) {
	st, err := NewVP8SimulcastTrack("v", "s", SimulcastOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	offer, _, _ := pionPair(t, st)
	re, err := offer.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(re.SDP, "a=simulcast:recv") {
		t.Log("Pion's re-offer no longer names rids to receive: sendOnlyRIDs may go")
	}
	got := sendOnlyRIDs(re.SDP)
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(got); err != nil {
		t.Fatal(err)
	}
	var sims, rids []string
	for _, a := range sd.MediaDescriptions[0].Attributes {
		switch a.Key {
		case "simulcast":
			sims = append(sims, a.Value)
		case "rid":
			rids = append(rids, a.Value)
		}
	}
	if strings.Join(sims, "|") != "send q;h;f" || strings.Join(rids, "|") != "q send|h send|f send" {
		t.Errorf("re-offer: a=simulcast %q, a=rid %q; want one send line and three send rids", sims, rids)
	}
	var kept []string
	for _, l := range strings.SplitAfter(re.SDP, "\n") {
		if !strings.HasPrefix(l, "a=simulcast:recv ") && !(strings.HasPrefix(l, "a=rid:") && strings.Contains(l, " recv")) {
			kept = append(kept, l)
		}
	}
	if got != strings.Join(kept, "") {
		t.Error("sendOnlyRIDs changed more than the receive rids")
	}
	for _, keep := range []string{"a=rid:q send pt=96", "a=simulcast:send q;h;f recv x", "a=ridx:q recv", "a=recvonly"} {
		if s := "v=0\r\n" + keep + "\r\n"; sendOnlyRIDs(s) != s {
			t.Errorf("sendOnlyRIDs changed %q", keep)
		}
	}
}

// A retransmission of a layer names its layer in repaired-rtp-stream-id,
// not rtp-stream-id; the layer's media, and the header the NACK responder
// keeps, are left as they were.
func TestRepairedRID(t *testing.T) {
	const ssrc, rtx, ridID, repairedID = 1, 2, 10, 11
	info := &interceptor.StreamInfo{SSRC: ssrc, SSRCRetransmission: rtx, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: sdp.SDESRTPStreamIDURI, ID: ridID}, {URI: sdp.SDESRepairRTPStreamIDURI, ID: repairedID},
	}}
	var got []rtp.Header
	w := (&repairedRID{}).BindLocalStream(info, interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		got = append(got, h.Clone())
		return 0, nil
	}))
	for _, s := range []uint32{ssrc, rtx} {
		h := rtp.Header{Version: 2, SSRC: s}
		if err := h.SetExtension(ridID, []byte("f")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(&h, []byte{0, 1, 2}, nil); err != nil {
			t.Fatal(err)
		}
		if string(h.GetExtension(ridID)) != "f" {
			t.Errorf("SSRC %d: the written header was changed", s)
		}
	}
	if string(got[0].GetExtension(ridID)) != "f" || got[0].GetExtension(repairedID) != nil {
		t.Errorf("media: rid %q, repaired %q; want f and none", got[0].GetExtension(ridID), got[0].GetExtension(repairedID))
	}
	if got[1].GetExtension(ridID) != nil || string(got[1].GetExtension(repairedID)) != "f" {
		t.Errorf("RTX: rid %q, repaired %q; want none and f", got[1].GetExtension(ridID), got[1].GetExtension(repairedID))
	}
}
