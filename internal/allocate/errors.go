package allocate

import "errors"

// ErrProberConfig is wrapped by the errors of ProberConfig.Validate and
// NewProber.
var ErrProberConfig = errors.New("allocate: invalid prober config")
