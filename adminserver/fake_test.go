package adminserver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// *store.Store is what the lead passes as Config.Store.
var _ Store = (*store.Store)(nil)

var (
	_ Store = (*fakeStore)(nil)
	_ Rooms = (*fakeRooms)(nil)
)

// logged is one application-log entry the fake recorded.
type logged struct {
	app      uint32
	op       Operation
	appended bool // through AppendLog (else by a store mutation)
}

// fakeStore is an in-memory Store. A non-nil ...Func field replaces the
// method's default behaviour.
type fakeStore struct {
	mu     sync.Mutex
	apps   map[uint32]*App
	keys   map[uint32][]auth.Key
	log    []logged
	purges map[uint32]time.Time
	nextID uint32
	nextK  int
	// webhooks are the apps' callbacks, set by UpdateApp.
	webhooks map[uint32]store.Webhook

	AppFunc        func(ctx context.Context, id uint32) (App, error)
	KeysFunc       func(ctx context.Context, id uint32, now time.Time) ([]KeyInfo, error)
	SigningKeyFunc func(ctx context.Context, id uint32, now time.Time) (auth.Key, error)
	AppendLogFunc  func(ctx context.Context, id uint32, op Operation, now time.Time) error
	RotateKeyFunc  func(ctx context.Context, id uint32, now time.Time) (auth.Key, error)
	// DeletionErr, if set, is returned by RequestDeletion after it deleted.
	DeletionErr error
}

func newFakeStore() *fakeStore {
	return &fakeStore{apps: map[uint32]*App{}, keys: map[uint32][]auth.Key{}, purges: map[uint32]time.Time{}, nextID: store.MinAppID}
}

// secretOf is the fake's secret for key number n: 64 hex characters, as
// auth.NewKey makes them, easy to find in logs.
func secretOf(n int) []byte {
	return fmt.Appendf(nil, "%064x", 0x5ec12e7000+n)
}

func (f *fakeStore) newKey(id uint32, now time.Time) auth.Key {
	f.nextK++
	k := auth.Key{ID: "k" + strconv.Itoa(f.nextK), Secret: secretOf(f.nextK),
		NotBefore: now.Truncate(time.Second), NotAfter: now.Truncate(time.Second).Add(24 * time.Hour)}
	f.keys[id] = append(f.keys[id], k)
	return k
}

func (f *fakeStore) record(id uint32, op Operation, appended bool) {
	f.log = append(f.log, logged{app: id, op: op, appended: appended})
}

// add creates an app directly (no log), with one key, and returns it.
func (f *fakeStore) add(name string, status store.Status, now time.Time) App {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	a := App{SDKAppID: f.nextID, Name: name, Tags: []string{}, Status: status, CreatedAt: now.UTC(), Policy: store.DefaultPolicy()}
	f.apps[a.SDKAppID] = &a
	f.newKey(a.SDKAppID, now)
	return a
}

func (f *fakeStore) entries() []logged {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func notFound(id uint32) error { return fmt.Errorf("store: app %d: %w", id, store.ErrNotFound) }

func (f *fakeStore) CreateApp(_ context.Context, name string, tags []string, p Policy, now time.Time) (App, error) {
	if err := p.Validate(); err != nil {
		return App{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	if tags == nil {
		tags = []string{}
	}
	a := App{SDKAppID: f.nextID, Name: name, Tags: slices.Clone(tags), Status: store.StatusActive, CreatedAt: now.UTC(), Policy: p}
	f.apps[a.SDKAppID] = &a
	f.newKey(a.SDKAppID, now)
	f.record(a.SDKAppID, store.OpAppCreate, false)
	return a, nil
}

func (f *fakeStore) Apps(context.Context) ([]App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	apps := []App{}
	for _, a := range f.apps {
		apps = append(apps, *a)
	}
	slices.SortFunc(apps, func(a, b App) int { return int(a.SDKAppID) - int(b.SDKAppID) })
	return apps, nil
}

func (f *fakeStore) App(ctx context.Context, id uint32) (App, error) {
	if f.AppFunc != nil {
		return f.AppFunc(ctx, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return App{}, notFound(id)
	}
	return *a, nil
}

func (f *fakeStore) UpdateApp(_ context.Context, id uint32, u AppUpdate, _ time.Time) (App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return App{}, notFound(id)
	}
	if u.Name != nil {
		a.Name = *u.Name
	}
	if u.Tags != nil {
		a.Tags = slices.Clone(*u.Tags)
	}
	if u.Policy != nil {
		a.Policy = *u.Policy
	}
	if u.Webhook != nil {
		if f.webhooks == nil {
			f.webhooks = make(map[uint32]store.Webhook)
		}
		if u.Webhook.URL == "" {
			delete(f.webhooks, id)
		} else {
			f.webhooks[id] = *u.Webhook
		}
	}
	f.record(id, store.OpAppUpdate, false)
	return *a, nil
}

func (f *fakeStore) Webhook(_ context.Context, id uint32) (store.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.webhooks[id]
	if !ok {
		return store.Webhook{}, notFound(id)
	}
	return w, nil
}

func (f *fakeStore) SetStatus(_ context.Context, id uint32, status store.Status, _ time.Time) (App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return App{}, notFound(id)
	}
	if a.Status == store.StatusTerminated {
		return App{}, fmt.Errorf("store: %w", store.ErrStatus)
	}
	if a.Status != status {
		a.Status = status
		op := store.OpAppSuspend
		if status == store.StatusActive {
			op = store.OpAppResume
		}
		f.record(id, op, false)
	}
	return *a, nil
}

func (f *fakeStore) Keys(ctx context.Context, id uint32, now time.Time) ([]KeyInfo, error) {
	if f.KeysFunc != nil {
		return f.KeysFunc(ctx, id, now)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.apps[id]; !ok {
		return nil, notFound(id)
	}
	infos := []KeyInfo{}
	ks := f.keys[id]
	for i := len(ks) - 1; i >= 0; i-- {
		state := store.KeyVerifying
		if i == len(ks)-1 {
			state = store.KeySigning
		}
		infos = append(infos, KeyInfo{ID: ks[i].ID, NotBefore: ks[i].NotBefore, NotAfter: ks[i].NotAfter,
			CreatedAt: ks[i].NotBefore, VerifyUntil: ks[i].NotAfter.Add(24 * time.Hour), State: state})
	}
	return infos, nil
}

func (f *fakeStore) RotateKey(ctx context.Context, id uint32, now time.Time) (auth.Key, error) {
	if f.RotateKeyFunc != nil {
		return f.RotateKeyFunc(ctx, id, now)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.apps[id]; !ok {
		return auth.Key{}, notFound(id)
	}
	k := f.newKey(id, now)
	f.record(id, store.OpKeyRotate, false)
	return k, nil
}

func (f *fakeStore) RevokeKey(_ context.Context, id uint32, kid string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.apps[id]; !ok {
		return notFound(id)
	}
	i := slices.IndexFunc(f.keys[id], func(k auth.Key) bool { return k.ID == kid })
	if i < 0 {
		return fmt.Errorf("store: revoke key: %w", store.ErrNotFound)
	}
	f.keys[id] = slices.Delete(f.keys[id], i, i+1)
	f.record(id, store.OpKeyRevoke, false)
	return nil
}

func (f *fakeStore) SigningKey(ctx context.Context, id uint32, now time.Time) (auth.Key, error) {
	if f.SigningKeyFunc != nil {
		return f.SigningKeyFunc(ctx, id, now)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok || a.Status != store.StatusActive {
		return auth.Key{}, fmt.Errorf("store: signing key: %w", auth.ErrUnknownApp)
	}
	ks := f.keys[id]
	if len(ks) == 0 {
		return auth.Key{}, fmt.Errorf("store: signing key: %w", auth.ErrUnknownKey)
	}
	k := ks[len(ks)-1]
	k.Secret = bytes.Clone(k.Secret)
	return k, nil
}

// AppendLog refuses what the real store refuses: unknown operations and
// those the store logs itself.
func (f *fakeStore) AppendLog(ctx context.Context, id uint32, op Operation, now time.Time) error {
	if f.AppendLogFunc != nil {
		return f.AppendLogFunc(ctx, id, op, now)
	}
	if !op.Valid() || op.Logged() {
		return fmt.Errorf("store: append log: %w", store.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.apps[id]; !ok {
		return notFound(id)
	}
	f.record(id, op, true)
	return nil
}

func (f *fakeStore) Log(_ context.Context, id uint32, limit int) ([]LogEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return nil, notFound(id)
	}
	entries := []LogEntry{}
	for i := len(f.log) - 1; i >= 0 && len(entries) < limit; i-- {
		if l := f.log[i]; l.app == id {
			entries = append(entries, LogEntry{ID: int64(i + 1), SDKAppID: id, AppName: a.Name, Tags: a.Tags,
				Status: a.Status, CreatedAt: a.CreatedAt, Operation: l.op})
		}
	}
	return entries, nil
}

// roomCall is one call the fake rooms received.
type roomCall struct {
	method                string
	app                   uint32
	room                  RoomRef
	userID                string
	audio, video, blocked bool
}

// fakeRooms records its calls; a non-nil ...Func field supplies the result.
type fakeRooms struct {
	mu    sync.Mutex
	calls []roomCall

	RoomsFunc      func(ctx context.Context, app uint32) ([]RoomInfo, error)
	DismissFunc    func(ctx context.Context, app uint32, room RoomRef) error
	RemoveUserFunc func(ctx context.Context, app uint32, room RoomRef, userID string) error
	BlockFunc      func(ctx context.Context, app uint32, room RoomRef, userID string, audio, video, blocked bool) error
}

func (f *fakeRooms) record(c roomCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeRooms) recorded() []roomCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeRooms) Rooms(ctx context.Context, app uint32) ([]RoomInfo, error) {
	f.record(roomCall{method: "Rooms", app: app})
	if f.RoomsFunc != nil {
		return f.RoomsFunc(ctx, app)
	}
	return nil, nil
}

func (f *fakeRooms) Dismiss(ctx context.Context, app uint32, room RoomRef) error {
	f.record(roomCall{method: "Dismiss", app: app, room: room})
	if f.DismissFunc != nil {
		return f.DismissFunc(ctx, app, room)
	}
	return nil
}

func (f *fakeRooms) RemoveUser(ctx context.Context, app uint32, room RoomRef, userID string) error {
	f.record(roomCall{method: "RemoveUser", app: app, room: room, userID: userID})
	if f.RemoveUserFunc != nil {
		return f.RemoveUserFunc(ctx, app, room, userID)
	}
	return nil
}

func (f *fakeRooms) Block(ctx context.Context, app uint32, room RoomRef, userID string, audio, video, blocked bool) error {
	f.record(roomCall{method: "Block", app: app, room: room, userID: userID, audio: audio, video: video, blocked: blocked})
	if f.BlockFunc != nil {
		return f.BlockFunc(ctx, app, room, userID, audio, video, blocked)
	}
	return nil
}

// terminate is TerminateApp's work: the purge at due unless earlier, keys
// gone, app.terminate logged if anything changed.
func (f *fakeStore) terminate(a *App, due time.Time) {
	changed := false
	if old, ok := f.purges[a.SDKAppID]; !ok || due.Before(old) {
		f.purges[a.SDKAppID] = due
		changed = true
	}
	if a.Status != store.StatusTerminated {
		a.Status = store.StatusTerminated
		delete(f.keys, a.SDKAppID)
		changed = true
	}
	a.PurgeAt = f.purges[a.SDKAppID]
	if changed {
		f.record(a.SDKAppID, store.OpAppTerminate, false)
	}
}

func (f *fakeStore) TerminateApp(_ context.Context, id uint32, now time.Time) (App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return App{}, notFound(id)
	}
	f.terminate(a, now.Truncate(time.Second).Add(min(a.Policy.Retention, f.RetentionCap())))
	return *a, nil
}

func (f *fakeStore) RequestDeletion(_ context.Context, id uint32, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return notFound(id)
	}
	f.terminate(a, now.Truncate(time.Second))
	f.record(id, store.OpAppDeleteRequest, false)
	delete(f.apps, id)
	delete(f.purges, id)
	f.log = slices.DeleteFunc(f.log, func(l logged) bool { return l.app == id })
	return f.DeletionErr
}

func (f *fakeStore) PendingPurges(context.Context) ([]Purge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := []Purge{}
	for id, due := range f.purges {
		p = append(p, Purge{SDKAppID: id, DueAt: due})
	}
	slices.SortFunc(p, func(a, b Purge) int { return a.DueAt.Compare(b.DueAt) })
	return p, nil
}

func (f *fakeStore) RetentionCap() time.Duration { return 3 * 24 * time.Hour }
