package admin

// Input limits of the API (docs/api.md, section 1.4). Strings are measured
// in bytes of UTF-8.
const (
	MaxNameLen      = 64         // an application's name
	MaxTagLen       = 32         // each tag
	MaxTags         = 16         // tags of an application
	MaxUserIDLen    = 64         // a user id
	MaxStrRoomIDLen = 64         // a strRoomId
	MaxRoomID       = 4294967294 // the highest numeric roomId
	MaxKeyIDLen     = 64         // a kid
	MaxBodyBytes    = 1 << 20    // a request body
	// MaxPrivileges is the highest privilege mask (all eight bits).
	MaxPrivileges = 255
	// MaxLogLimit is the most application-log entries one request returns;
	// DefaultLogLimit, the number when it names none.
	MaxLogLimit     = 1000
	DefaultLogLimit = 100
)

// Values of the API's enumerated string fields.
const (
	// AppJSON.Status.
	StatusActive     = "active"
	StatusSuspended  = "suspended"
	StatusTerminated = "terminated"

	// KeyJSON.State.
	KeySigning   = "signing"   // new tokens are signed with it
	KeyVerifying = "verifying" // verifies the tokens it signed until VerifyUntil
	KeyPending   = "pending"   // its signing window has not begun
	KeyExpired   = "expired"   // about to be destroyed

	// UserSigRequest.Format.
	FormatJWT = "jwt" // HS256 JWT: one token carrying room binding, privileges and role
	FormatTLS = "tls" // TRTC TLSSigAPIv2: a userSig and, with a room, a privateMapKey

	// UserSigRequest.Role and ParticipantJSON.Role.
	RoleAnchor   = "anchor"   // may publish
	RoleAudience = "audience" // receives only

	// UserSigRequest.Consent: on which basis the user's consent to the
	// processing of their personal data was obtained.
	ConsentAdult    = "adult"    // the user is of the age to consent, and did
	ConsentParental = "parental" // a parent or guardian consented for the user
)
