package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/lethe-rtc/lethe/signaling"
)

func TestGoingAway(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("%w: %w", ErrBye, &signaling.CodedError{Code: signaling.CodeGoingAway}), true},
		{&signaling.CodedError{Code: signaling.CodeDraining, Detail: "try another server"}, true},
		{fmt.Errorf("%w: %w", ErrBye, &signaling.CodedError{Code: signaling.CodeShuttingDown}), false},
		{fmt.Errorf("%w: %w", ErrBye, &signaling.CodedError{Code: signaling.CodeRemoved}), false},
		{ErrBye, false},
		{errors.New("connection reset"), false},
		{nil, false},
	} {
		if got := GoingAway(tt.err); got != tt.want {
			t.Errorf("GoingAway(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
