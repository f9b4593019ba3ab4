package retention

import "errors"

// ErrConfig: the Sweeper's fields are unusable (see Sweeper.Validate).
var ErrConfig = errors.New("retention: invalid sweeper config")
