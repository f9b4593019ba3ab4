package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEveryMutationLogsOnce runs each mutating method and checks that it
// appended exactly one entry, with the right operation and the app's own
// name, tags and status, and nothing else; failed mutations append none.
func TestEveryMutationLogsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	now := testNow
	var app App

	count := func() int {
		t.Helper()
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM app_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	renamed, tags := "renamed", []string{"t1", "t2"}
	policy := Policy{KeyLifetime: time.Hour, MaxTokenTTL: time.Hour, MaxAnchors: 1}
	bad := "bad\r\nname"
	steps := []struct {
		name string
		do   func() error
		op   Operation // "": must log nothing
	}{
		{"create", func() (err error) { app, err = s.CreateApp(ctx, "a", []string{"t0"}, Policy{}, now); return err }, OpAppCreate},
		{"rename", func() error { _, err := s.UpdateApp(ctx, app.SDKAppID, AppUpdate{Name: &renamed}, now); return err }, OpAppUpdate},
		{"retag", func() error { _, err := s.UpdateApp(ctx, app.SDKAppID, AppUpdate{Tags: &tags}, now); return err }, OpAppUpdate},
		{"policy", func() error { _, err := s.UpdateApp(ctx, app.SDKAppID, AppUpdate{Policy: &policy}, now); return err }, OpAppUpdate},
		{"suspend", func() error { _, err := s.SetStatus(ctx, app.SDKAppID, StatusSuspended, now); return err }, OpAppSuspend},
		{"suspend again", func() error { _, err := s.SetStatus(ctx, app.SDKAppID, StatusSuspended, now); return err }, ""},
		{"resume", func() error { _, err := s.SetStatus(ctx, app.SDKAppID, StatusActive, now); return err }, OpAppResume},
		{"rotate", func() error { _, err := s.RotateKey(ctx, app.SDKAppID, now); return err }, OpKeyRotate},
		{"revoke", func() error {
			k, err := s.SigningKey(ctx, app.SDKAppID, now)
			if err != nil {
				return err
			}
			return s.RevokeKey(ctx, app.SDKAppID, k.ID, now)
		}, OpKeyRevoke},
		{"import", func() error {
			k, err := s.SigningKey(ctx, app.SDKAppID, now)
			if err != nil {
				return err
			}
			k.ID = "imported"
			return s.AddKey(ctx, app.SDKAppID, k, now)
		}, OpKeyImport},
		{"fetch", func() error { return s.AppendLog(ctx, app.SDKAppID, OpKeyFetch, now) }, OpKeyFetch},
		{"mint", func() error { return s.AppendLog(ctx, app.SDKAppID, OpUserSigMint, now) }, OpUserSigMint},
		{"maintain, nothing due", func() error { _, err := s.MaintainKeys(ctx, now); return err }, ""},
		{"invalid rename", func() error { _, err := s.UpdateApp(ctx, app.SDKAppID, AppUpdate{Name: &bad}, now); return err }, ""},
		{"terminate", func() error { _, err := s.SetStatus(ctx, app.SDKAppID, StatusTerminated, now); return err }, ""},
		{"revoke unknown", func() error { return s.RevokeKey(ctx, app.SDKAppID, "nope", now) }, ""},
		{"forged store op", func() error { return s.AppendLog(ctx, app.SDKAppID, OpAppCreate, now) }, ""},
		{"unknown op", func() error { return s.AppendLog(ctx, app.SDKAppID, "app.create\nadmin=mallory", now) }, ""},
		{"unknown app", func() error { return s.AppendLog(ctx, 42, OpKeyFetch, now) }, ""},
	}
	for _, st := range steps {
		before := count()
		err := st.do()
		if st.op == "" {
			if count() != before {
				t.Errorf("%s: logged %d entries, want none", st.name, count()-before)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := count() - before; got != 1 {
			t.Fatalf("%s: logged %d entries, want 1", st.name, got)
		}
		log, err := s.Log(ctx, app.SDKAppID, 1)
		if err != nil || len(log) != 1 {
			t.Fatalf("%s: Log = %+v, %v", st.name, log, err)
		}
		cur, err := s.App(ctx, app.SDKAppID)
		if err != nil {
			t.Fatal(err)
		}
		want := LogEntry{ID: log[0].ID, SDKAppID: cur.SDKAppID, AppName: cur.Name, Tags: cur.Tags, Status: cur.Status, CreatedAt: now, Operation: st.op}
		if !reflect.DeepEqual(log[0], want) {
			t.Errorf("%s: entry %+v, want %+v", st.name, log[0], want)
		}
		now = now.Add(time.Minute)
	}

	// Automatic key changes: one entry per key made or destroyed.
	before := count()
	later := now.Add(3 * 24 * time.Hour)
	rep, err := s.MaintainKeys(ctx, later)
	if err != nil || rep.Created != 1 || rep.Destroyed < 2 {
		t.Fatalf("maintain: %+v, %v", rep, err)
	}
	log, err := s.Log(ctx, app.SDKAppID, count()-before)
	if err != nil || len(log) != rep.Created+rep.Destroyed {
		t.Fatalf("maintain logged %d entries for %+v (%v)", len(log), rep, err)
	}
	var ops []string
	for _, e := range log {
		ops = append(ops, string(e.Operation))
	}
	if c, d := strings.Count(strings.Join(ops, " "), string(OpKeyCreate)), strings.Count(strings.Join(ops, " "), string(OpKeyDestroy)); c != rep.Created || d != rep.Destroyed {
		t.Errorf("maintain logged %v for %+v", ops, rep)
	}

	// Newest first, limited.
	all, err := s.Log(ctx, app.SDKAppID, MaxLogLimit+1)
	if err != nil || len(all) != count() || all[len(all)-1].Operation != OpAppCreate || all[0].ID <= all[1].ID {
		t.Errorf("full log: %d entries (%v)", len(all), err)
	}
	if _, err := s.Log(ctx, 42, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("log of unknown app: err = %v, want ErrNotFound", err)
	}
}

// TestLogHoldsOnlyPermittedFields pins the table and the entry type to the
// six permitted fields and the row id.
func TestLogHoldsOnlyPermittedFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info('app_log') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	_ = rows.Close()
	if want := []string{"id", "sdk_app_id", "app_name", "tags", "status", "created_at", "operation"}; !slices.Equal(cols, want) {
		t.Errorf("app_log columns %v, want %v", cols, want)
	}
	typ := reflect.TypeFor[LogEntry]()
	var fields []string
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	if want := []string{"ID", "SDKAppID", "AppName", "Tags", "Status", "CreatedAt", "Operation"}; !slices.Equal(fields, want) {
		t.Errorf("LogEntry fields %v, want %v", fields, want)
	}
	// AppendLog takes no text and no bytes: only an app id, an operation and a time.
	m, _ := reflect.TypeFor[*Store]().MethodByName("AppendLog")
	var params []string
	for i := 1; i < m.Type.NumIn(); i++ {
		params = append(params, m.Type.In(i).String())
	}
	if want := []string{"context.Context", "uint32", "store.Operation", "time.Time"}; !slices.Equal(params, want) {
		t.Errorf("AppendLog takes %v, want %v", params, want)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	store := []Operation{OpAppCreate, OpAppUpdate, OpAppSuspend, OpAppResume, OpKeyRotate, OpKeyRevoke, OpKeyImport, OpKeyCreate, OpKeyDestroy,
		OpAppTerminate, OpAppDeleteRequest}
	caller := []Operation{OpAppGet, OpKeyList, OpKeyFetch, OpUserSigMint, OpRoomList, OpRoomDismiss, OpUserRemove, OpUserBlock, OpUserUnblock, OpLogRead}
	for _, op := range store {
		if !op.Valid() || !op.Logged() {
			t.Errorf("%s: valid %v, logged by the store %v", op, op.Valid(), op.Logged())
		}
	}
	for _, op := range caller {
		if !op.Valid() || op.Logged() {
			t.Errorf("%s: valid %v, logged by the store %v", op, op.Valid(), op.Logged())
		}
	}
	for _, op := range []Operation{"", "APP.CREATE", "app.create ", "app.delete", "app.purge", "x"} {
		if op.Valid() {
			t.Errorf("%q is valid", op)
		}
	}
}
