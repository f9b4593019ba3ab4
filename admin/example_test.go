package admin_test

import (
	"context"
	"errors"
	"log"
	"os"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// An application backend mints a UserSig for a user who is about to enter
// room 1234, creating its application on first use.
func Example() {
	key, err := os.ReadFile("lethe-data/admin.key")
	if err != nil {
		log.Fatal(err)
	}
	c, err := admin.New("http://127.0.0.1:7880", string(key))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	app, err := c.CreateApp(ctx, admin.CreateAppRequest{
		Name:   "Acme Meetings",
		Tags:   []string{"prod"},
		Policy: &admin.PolicyPatch{MaxTokenTTLSeconds: new(int64(7200))},
	})
	if err != nil {
		log.Fatal(err)
	}
	sig, err := c.MintUserSig(ctx, app.SDKAppID, admin.UserSigRequest{
		UserID:     "alice",
		RoomJSON:   admin.RoomJSON{RoomID: 1234},
		Privileges: new(uint32(2 | 4 | 8 | 32)), // enter, send audio, receive audio and video
		Role:       admin.RoleAnchor,
	})
	var ae *admin.Error
	switch {
	case errors.As(err, &ae) && ae.Code == admin.CodeRateLimited:
		log.Printf("rate limited: retry in %v", ae.RetryAfter)
	case admin.ErrorCode(err) == admin.CodeAppNotActive:
		log.Printf("application %d is suspended", app.SDKAppID)
	case err != nil:
		log.Fatal(err)
	default:
		log.Printf("userSig for %d, expires %v", app.SDKAppID, sig.ExpiresAt)
	}
}
