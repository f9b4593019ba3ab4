package worker

import (
	"fmt"
	"testing"

	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

func TestDataCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code signaling.Code
	}{
		{sfu.ErrDataTooLarge, signaling.CodeDataTooLarge},
		{sfu.ErrDataRate, signaling.CodeDataRate},
		{sfu.ErrDataRoomRate, signaling.CodeDataRate},
		{sfu.ErrDataNotAllowed, signaling.CodeDataNotAllowed},
		{sfu.ErrDataMalformed, signaling.CodeDataRefused},
		{sfu.ErrDataUnknownPeer, signaling.CodeDataRefused},
		{fmt.Errorf("wrapped: %w", sfu.ErrDataRate), signaling.CodeDataRate},
	} {
		if got := codeOf(tc.err); got != tc.code {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.code)
		}
		if dataReason(tc.err) == "" {
			t.Errorf("%v: no reason", tc.err)
		}
	}
	if dataCode(sfu.ErrBadSDP) != 0 || codeOf(sfu.ErrBadSDP) != signaling.CodeBadSDP {
		t.Error("a media error taken for a data one")
	}
}
