package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// What `lethe app` prints of the admin API's replies: their JSON with
// --json, otherwise a table for each.

// show prints v, a reply of the API: with --json as indented JSON,
// otherwise as the table printed by table.
func show[T any](c *appRun, v T, table func(w io.Writer, v T)) error {
	if c.json {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		// The reply's own newline and one more, as lethe app has always
		// printed them.
		_, err = c.stdout.Write(append(b, '\n', '\n'))
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	table(tw, v)
	return tw.Flush()
}

// done reports a call the API answered without a body (204): msg, or
// nothing with --json.
func (c *appRun) done(msg string) error {
	if c.json {
		return nil
	}
	_, err := fmt.Fprintln(c.stdout, msg)
	return err
}

const timeLayout = time.RFC3339

func printApps(w io.Writer, r admin.AppsJSON) {
	fmt.Fprintln(w, "SDKAPPID\tNAME\tSTATUS\tTAGS\tCREATED")
	for _, a := range r.Apps {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", a.SDKAppID, a.Name, a.Status, orDash(strings.Join(a.Tags, ",")), a.CreatedAt.Format(timeLayout))
	}
}

func printApp(w io.Writer, a admin.AppJSON) {
	limit := func(n int) string {
		if n == 0 {
			return "unlimited"
		}
		return strconv.Itoa(n)
	}
	fmt.Fprintf(w, "sdkAppId\t%d\n", a.SDKAppID)
	fmt.Fprintf(w, "name\t%s\n", a.Name)
	fmt.Fprintf(w, "status\t%s\n", a.Status)
	fmt.Fprintf(w, "tags\t%s\n", orDash(strings.Join(a.Tags, ", ")))
	fmt.Fprintf(w, "created\t%s\n", a.CreatedAt.Format(timeLayout))
	fmt.Fprintf(w, "key lifetime\t%s\n", time.Duration(a.Policy.KeyLifetimeSeconds)*time.Second)
	fmt.Fprintf(w, "max token ttl\t%s\n", time.Duration(a.Policy.MaxTokenTTLSeconds)*time.Second)
	fmt.Fprintf(w, "require privateMapKey\t%t\n", a.Policy.RequirePrivateMapKey)
	fmt.Fprintf(w, "require consent\t%t\n", a.Policy.RequireConsent)
	fmt.Fprintf(w, "max anchors per room\t%s\n", limit(a.Policy.MaxAnchorsPerRoom))
	fmt.Fprintf(w, "max participants per room\t%s\n", limit(a.Policy.MaxParticipantsPerRoom))
	fmt.Fprintf(w, "retention after termination\t%s\n", time.Duration(a.Policy.RetentionSeconds)*time.Second)
	if a.PurgeAt != nil {
		fmt.Fprintf(w, "purge at\t%s\n", a.PurgeAt.Format(timeLayout))
	}
	if h := a.Webhook; h != nil {
		fmt.Fprintf(w, "webhook\t%s\n", h.URL)
		fmt.Fprintf(w, "webhook key\t%s\n", h.KeyFingerprint)
		if d := h.Deliveries; d != nil {
			fmt.Fprintf(w, "webhook deliveries\t%d delivered, %d failed, %d dropped, %d queued\n", d.Delivered, d.Failed, d.Dropped, d.Queued)
		}
	}
}

func printDeletion(w io.Writer, d admin.DeletionJSON) {
	if d.Checkpointed {
		fmt.Fprintln(w, "deleted")
		return
	}
	fmt.Fprintln(w, "deleted (the database files are cleared at the next sweep)")
}

func printRetention(w io.Writer, r admin.RetentionJSON) {
	fmt.Fprintf(w, "retention cap\t%s\n", time.Duration(r.RetentionCapSeconds)*time.Second)
	fmt.Fprintf(w, "oldest overdue\t%s\n", time.Duration(r.OldestOverdueSeconds)*time.Second)
	fmt.Fprintf(w, "pending purges\t%d\n", len(r.Pending))
	if len(r.Pending) > 0 {
		fmt.Fprintln(w, "\nSDKAPPID\tPURGE AT")
		for _, p := range r.Pending {
			fmt.Fprintf(w, "%d\t%s\n", p.SDKAppID, p.DueAt.Format(timeLayout))
		}
	}
}

func printLog(w io.Writer, r admin.LogJSON) {
	fmt.Fprintln(w, "ID\tTIME\tOPERATION\tSTATUS\tNAME\tTAGS")
	for _, e := range r.Entries {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.CreatedAt.Format(timeLayout), e.Operation, e.Status, e.AppName, strings.Join(e.Tags, ","))
	}
}

func printKeys(w io.Writer, r admin.KeysJSON) {
	fmt.Fprintln(w, "KID\tSTATE\tNOT BEFORE\tNOT AFTER\tVERIFIES UNTIL")
	for _, k := range r.Keys {
		until := "-"
		if k.VerifyUntil != nil {
			until = k.VerifyUntil.Format(timeLayout)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.State, k.NotBefore.Format(timeLayout), k.NotAfter.Format(timeLayout), until)
	}
}

func printKey(w io.Writer, k admin.KeyJSON) {
	fmt.Fprintf(w, "kid\t%s\nstate\t%s\nnot before\t%s\nnot after\t%s\n",
		k.KID, k.State, k.NotBefore.Format(timeLayout), k.NotAfter.Format(timeLayout))
}

func printSecretKey(w io.Writer, k admin.SecretKeyJSON) {
	fmt.Fprintf(w, "kid\t%s\n", k.KID)
	if k.Secret != "" {
		fmt.Fprintf(w, "secret\t%s\n", k.Secret)
	} else {
		fmt.Fprintf(w, "secret (base64)\t%s\n", k.SecretBase64)
	}
	fmt.Fprintf(w, "not before\t%s\nnot after\t%s\n", k.NotBefore.Format(timeLayout), k.NotAfter.Format(timeLayout))
}

func printUserSig(w io.Writer, s admin.UserSigJSON) {
	fmt.Fprintf(w, "userSig\t%s\n", s.UserSig)
	if s.PrivateMapKey != "" {
		fmt.Fprintf(w, "privateMapKey\t%s\n", s.PrivateMapKey)
	}
	fmt.Fprintf(w, "format\t%s\nkid\t%s\nexpires\t%s\n", s.Format, s.KID, s.ExpiresAt.Format(timeLayout))
}

func printRooms(w io.Writer, r admin.RoomsJSON) {
	fmt.Fprintln(w, "ROOM\tPARTICIPANT\tUSER\tROLE\tTRACKS\tBLOCKED")
	for _, room := range r.Rooms {
		name := strconv.Quote(room.StrRoomID)
		if room.RoomID != 0 {
			name = strconv.FormatUint(uint64(room.RoomID), 10)
		}
		if len(room.Participants) == 0 {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\n", name)
		}
		for _, p := range room.Participants {
			var blocked []string
			if p.AudioBlocked {
				blocked = append(blocked, "audio")
			}
			if p.VideoBlocked {
				blocked = append(blocked, "video")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", name, p.ParticipantID, p.UserID, p.Role,
				orDash(strings.Join(p.Tracks, ",")), orDash(strings.Join(blocked, ",")))
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
