package adminserver

import "errors"

// Errors a Rooms implementation returns (wrapped or not); the API answers
// them with 404 and the codes room_not_found and user_not_found.
var (
	// ErrRoomNotFound: the application has no such room right now.
	ErrRoomNotFound = errors.New("adminserver: no such room")
	// ErrUserNotFound: no participant with that user id is in the room.
	ErrUserNotFound = errors.New("adminserver: no such user in the room")
)

// ErrConfig: NewHandler was given an unusable Config.
var ErrConfig = errors.New("adminserver: invalid config")
