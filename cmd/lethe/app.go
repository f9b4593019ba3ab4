package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// appSubcommand is one `lethe app` subcommand: one call of the admin API.
type appSubcommand struct {
	name, args, summary string
	run                 func(c *appRun, args []string) error
}

func appSubcommands() []appSubcommand {
	return []appSubcommand{
		{"list", "", "list applications", appList},
		{"create", "--name NAME [--tag T]... [policy flags]", "create an application", appCreate},
		{"get", "APP", "show an application", appGet},
		{"update", "APP [--name NAME] [--tag T]... [--clear-tags] [policy flags]", "change name, tags or policy", appUpdate},
		{"suspend", "APP", "suspend an application: its users are refused at once", appStatus((*admin.Client).SuspendApp)},
		{"resume", "APP", "resume a suspended application", appStatus((*admin.Client).ResumeApp)},
		{"terminate", "APP --yes", "terminate an application for good: keys deleted now, data purged after its retention", appTerminate},
		{"delete", "APP --yes", "delete an application and all its data now (deletion on request)", appDelete},
		{"retention", "", "list pending purges and how overdue the oldest is", appRetention},
		{"log", "APP [--limit N]", "show the application log, newest first", appLog},
		{"keys", "APP", "list the key ring (no secrets)", appKeys},
		{"rotate", "APP", "make a new signing key now", appRotate},
		{"revoke", "APP KID", "delete a key: its tokens are refused at once", appRevoke},
		{"current-key", "APP", "print the current signing key and its secret (logged)", appCurrentKey},
		{"usersig", "APP --user ID [--format jwt|tls] [--ttl 1h] [--room N | --str-room S] [--privileges P] [--role R] [--consent C]", "mint a UserSig", appUserSig},
		{"rooms", "APP", "list live rooms and participants", appRooms},
		{"dismiss", "APP --room N | --str-room S", "end a room", appDismiss},
		{"remove-user", "APP --room N | --str-room S --user ID", "remove a user; their token cannot rejoin", appRemoveUser},
		{"block", "APP --room N | --str-room S --user ID [--audio] [--video]", "stop forwarding a user's audio and/or video", appBlock(true)},
		{"unblock", "APP --room N | --str-room S --user ID [--audio] [--video]", "resume forwarding a user's audio and/or video", appBlock(false)},
		{"webhook", "set APP --url URL --key-file FILE | remove APP | test APP", "set, remove or test the app's signed room-event callbacks", appWebhook},
	}
}

// Defaults of the flags every subcommand takes.
const (
	defaultAdminServer  = "http://127.0.0.1:7880"
	defaultAdminKeyFile = "./lethe-data/admin.key"
)

// appRun is one `lethe app` run: the flags every subcommand takes, where
// to print, and, once parsed, the admin API's client.
type appRun struct {
	ctx     context.Context
	name    string // the subcommand
	server  string
	keyFile string
	json    bool
	caFile  string
	stdout  io.Writer
	stderr  io.Writer

	api *admin.Client
}

// appCommand runs `lethe app <subcommand>`: it calls the admin API of a
// running `lethe serve` through admin.Client, with the admin key read from
// a file, and prints a readable table or, with --json, the API's JSON. The
// admin key is never printed.
func appCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &appRun{ctx: ctx, stdout: stdout, stderr: stderr, server: defaultAdminServer, keyFile: defaultAdminKeyFile}
	// Common flags may come before the subcommand, or after it.
	fs := newFlags("app", "lethe app [--server URL] [--admin-key-file PATH] [--json] <subcommand> [args]", appSubcommandList())
	c.commonFlags(fs.FlagSet)
	if err := fs.parse(args, math.MaxInt, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fs.fail(stderr, "which subcommand?")
	}
	name := fs.Arg(0)
	for _, sc := range appSubcommands() {
		if sc.name == name {
			c.name = name
			if err := sc.run(c, fs.Args()[1:]); err != nil {
				return fmt.Errorf("app %s: %w", name, err)
			}
			return nil
		}
	}
	return fs.fail(stderr, "unknown subcommand %q", name)
}

// appSubcommandList is the list of subcommands in `lethe app --help`.
func appSubcommandList() string {
	var b strings.Builder
	b.WriteString("subcommands (APP is an SDKAppID; 'lethe app <subcommand> --help' shows its flags):\n")
	width := 0
	for _, sc := range appSubcommands() {
		width = max(width, len(sc.name))
	}
	for _, sc := range appSubcommands() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, sc.name, sc.summary)
	}
	return b.String()
}

func (c *appRun) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", c.server, "admin API base URL (plain http only to a loopback address)")
	fs.StringVar(&c.keyFile, "admin-key-file", c.keyFile, "file holding the admin key (<data-dir>/admin.key)")
	fs.BoolVar(&c.json, "json", c.json, "print the API's JSON instead of a table")
	fs.StringVar(&c.caFile, "ca-file", c.caFile, "PEM roots to trust for an https --server instead of the system's, e.g. a private CA")
}

// flags returns the subcommand's flag set, with the common flags.
func (c *appRun) flags() *cmdFlags {
	fs := newFlags("app "+c.name, "lethe app "+c.name, "")
	c.commonFlags(fs.FlagSet)
	return fs
}

// parse parses args with fs, flags and positional arguments in any order,
// into exactly len(pos) positional values, then makes the API's client.
func (c *appRun) parse(fs *cmdFlags, args []string, usage string, pos ...*string) error {
	fs.synopsis = strings.TrimSpace("lethe app " + c.name + " " + usage)
	var got []string
	for {
		if err := fs.parse(args, math.MaxInt, c.stdout, c.stderr); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		got = append(got, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(got) != len(pos) {
		return fs.fail(c.stderr, "want %d argument(s), got %d", len(pos), len(got))
	}
	for i, p := range pos {
		*p = got[i]
	}
	return c.connect()
}

// connect reads the admin key and makes the client for --server, which
// refuses to send the key in plain http off loopback.
func (c *appRun) connect() error {
	raw, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	key := string(bytes.TrimSpace(raw))
	clear(raw)
	if key == "" {
		return fmt.Errorf("admin key: %s is empty", c.keyFile)
	}
	tc, err := caFileTLS(c.caFile)
	if err != nil {
		return fmt.Errorf("--ca-file: %w", err)
	}
	c.api, err = admin.New(c.server, key, admin.WithHTTPClient(httpClient(tc, admin.DefaultTimeout)))
	if e, ok := errors.AsType[*admin.BaseURLError](err); ok {
		return errors.New("--server " + e.Reason)
	}
	return err
}

// parseApp reads the APP argument (checked here for a clear message; the
// server checks again).
func parseApp(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("APP must be an SDKAppID (a number from 1 to 4294967295), not %q", s)
	}
	return uint32(n), nil
}

// appArg parses a subcommand that takes APP and flags, and returns APP.
func (c *appRun) appArg(fs *cmdFlags, args []string, usage string) (uint32, error) {
	var id string
	if err := c.parse(fs, args, usage, &id); err != nil {
		return 0, err
	}
	app, err := parseApp(id)
	if err != nil {
		return 0, fs.fail(c.stderr, "%v", err)
	}
	return app, nil
}

func appList(c *appRun, args []string) error {
	if err := c.parse(c.flags(), args, ""); err != nil {
		return err
	}
	apps, err := c.api.ListApps(c.ctx)
	if err != nil {
		return err
	}
	return show(c, admin.AppsJSON{Apps: apps}, printApps)
}

// appStrings is a repeatable string flag.
type appStrings []string

func (s *appStrings) String() string     { return strings.Join(*s, ",") }
func (s *appStrings) Set(v string) error { *s = append(*s, v); return nil }

// policyFlags are the policy flags of create and update.
type policyFlags struct {
	keyLifetime, maxTokenTTL    time.Duration
	retention                   time.Duration
	requirePMK, requireConsent  bool
	maxAnchors, maxParticipants int
	fs                          *flag.FlagSet
}

func newPolicyFlags(fs *flag.FlagSet) *policyFlags {
	p := &policyFlags{fs: fs}
	fs.DurationVar(&p.keyLifetime, "key-lifetime", 24*time.Hour, "signing window of each new key (10m..168h)")
	fs.DurationVar(&p.maxTokenTTL, "max-token-ttl", 24*time.Hour, "longest token lifetime (1s..168h)")
	fs.BoolVar(&p.requirePMK, "require-private-map-key", false, "every entry needs a room binding with privilege bits")
	fs.BoolVar(&p.requireConsent, "require-consent", false,
		"every entry needs the app backend's signed statement of the user's consent (a JWT consent claim; =false to drop)")
	fs.IntVar(&p.maxAnchors, "max-anchors", 0, "anchors per room (0: unlimited)")
	fs.IntVar(&p.maxParticipants, "max-participants", 0, "participants per room (0: unlimited)")
	fs.DurationVar(&p.retention, "retention", 7*24*time.Hour, "how long after termination the app's data is kept (1h..168h)")
	return p
}

// patch returns the policy fields set on the command line, or nil if none
// was set.
func (p *policyFlags) patch() (*admin.PolicyPatch, error) {
	var (
		pp  admin.PolicyPatch
		set bool
		err error
	)
	seconds := func(name string, d time.Duration) *int64 {
		err = errors.Join(err, checkWholeSeconds(name, d))
		return new(int64(d / time.Second))
	}
	p.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "key-lifetime":
			pp.KeyLifetimeSeconds = seconds(f.Name, p.keyLifetime)
		case "max-token-ttl":
			pp.MaxTokenTTLSeconds = seconds(f.Name, p.maxTokenTTL)
		case "require-private-map-key":
			pp.RequirePrivateMapKey = new(p.requirePMK)
		case "require-consent":
			pp.RequireConsent = new(p.requireConsent)
		case "max-anchors":
			pp.MaxAnchorsPerRoom = new(p.maxAnchors)
		case "max-participants":
			pp.MaxParticipantsPerRoom = new(p.maxParticipants)
		case "retention":
			pp.RetentionSeconds = seconds(f.Name, p.retention)
		default:
			return
		}
		set = true
	})
	if err != nil || !set {
		return nil, err
	}
	return &pp, nil
}

func checkWholeSeconds(name string, d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("--%s must be whole seconds, at least 1s", name)
	}
	return nil
}

func appCreate(c *appRun, args []string) error {
	fs := c.flags()
	name := fs.String("name", "", "application name (required, 1-64 bytes)")
	var tags appStrings
	fs.Var(&tags, "tag", "a tag (repeatable, at most 16)")
	pf := newPolicyFlags(fs.FlagSet)
	if err := c.parse(fs, args, "--name NAME [--tag T]... [policy flags]"); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	policy, err := pf.patch()
	if err != nil {
		return err
	}
	a, err := c.api.CreateApp(c.ctx, admin.CreateAppRequest{Name: *name, Tags: tags, Policy: policy})
	if err != nil {
		return err
	}
	return show(c, a, printApp)
}

func appGet(c *appRun, args []string) error {
	id, err := c.appArg(c.flags(), args, "APP")
	if err != nil {
		return err
	}
	a, err := c.api.GetApp(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, a, printApp)
}

func appUpdate(c *appRun, args []string) error {
	fs := c.flags()
	name := fs.String("name", "", "new name")
	var tags appStrings
	fs.Var(&tags, "tag", "a tag (repeatable): the tags become exactly these")
	clearTags := fs.Bool("clear-tags", false, "remove every tag")
	pf := newPolicyFlags(fs.FlagSet)
	id, err := c.appArg(fs, args, "APP [--name NAME] [--tag T]... [--clear-tags] [policy flags]")
	if err != nil {
		return err
	}
	var req admin.UpdateAppRequest
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			req.Name = name
		case "tag":
			req.Tags = (*[]string)(&tags)
		}
	})
	if *clearTags {
		if tags != nil {
			return errors.New("--clear-tags and --tag are exclusive")
		}
		req.Tags = &[]string{}
	}
	if req.Policy, err = pf.patch(); err != nil {
		return err
	}
	if req == (admin.UpdateAppRequest{}) {
		return errors.New("nothing to update: give --name, --tag, --clear-tags or a policy flag")
	}
	a, err := c.api.UpdateApp(c.ctx, id, req)
	if err != nil {
		return err
	}
	return show(c, a, printApp)
}

// appStatus is suspend or resume: call, one of the Client's methods.
func appStatus(call func(*admin.Client, context.Context, uint32) (admin.AppJSON, error)) func(c *appRun, args []string) error {
	return func(c *appRun, args []string) error {
		id, err := c.appArg(c.flags(), args, "APP")
		if err != nil {
			return err
		}
		a, err := call(c.api, c.ctx, id)
		if err != nil {
			return err
		}
		return show(c, a, printApp)
	}
}

// appIrreversible parses APP and the --yes an irreversible subcommand
// requires, and returns APP.
func appIrreversible(c *appRun, args []string, action, warning string) (uint32, error) {
	fs := c.flags()
	yes := fs.Bool("yes", false, "confirm: "+warning)
	id, err := c.appArg(fs, args, "APP --yes")
	if err != nil {
		return 0, err
	}
	if !*yes {
		return 0, fmt.Errorf("%s cannot be undone: %s; add --yes", action, warning)
	}
	return id, nil
}

func appTerminate(c *appRun, args []string) error {
	id, err := appIrreversible(c, args, "terminate",
		"the application stops for good, its keys are deleted now and its data is purged after its retention")
	if err != nil {
		return err
	}
	a, err := c.api.TerminateApp(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, a, printApp)
}

func appDelete(c *appRun, args []string) error {
	id, err := appIrreversible(c, args, "delete", "the application, its keys and its log are deleted now")
	if err != nil {
		return err
	}
	d, err := c.api.DeleteApp(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, d, printDeletion)
}

func appRetention(c *appRun, args []string) error {
	if err := c.parse(c.flags(), args, ""); err != nil {
		return err
	}
	r, err := c.api.Retention(c.ctx)
	if err != nil {
		return err
	}
	return show(c, r, printRetention)
}

func appLog(c *appRun, args []string) error {
	fs := c.flags()
	limit := fs.Int("limit", admin.DefaultLogLimit, "entries to show (1..1000)")
	id, err := c.appArg(fs, args, "APP [--limit N]")
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > admin.MaxLogLimit {
		return fmt.Errorf("--limit must be 1..%d", admin.MaxLogLimit)
	}
	entries, err := c.api.AppLog(c.ctx, id, *limit)
	if err != nil {
		return err
	}
	return show(c, admin.LogJSON{Entries: entries}, printLog)
}

func appKeys(c *appRun, args []string) error {
	id, err := c.appArg(c.flags(), args, "APP")
	if err != nil {
		return err
	}
	keys, err := c.api.ListKeys(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, admin.KeysJSON{Keys: keys}, printKeys)
}

func appRotate(c *appRun, args []string) error {
	id, err := c.appArg(c.flags(), args, "APP")
	if err != nil {
		return err
	}
	k, err := c.api.RotateKey(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, k, printKey)
}

func appRevoke(c *appRun, args []string) error {
	var app, kid string
	if err := c.parse(c.flags(), args, "APP KID", &app, &kid); err != nil {
		return err
	}
	id, err := parseApp(app)
	if err != nil {
		return err
	}
	if err := c.api.RevokeKey(c.ctx, id, kid); err != nil {
		return err
	}
	return c.done("revoked")
}

func appCurrentKey(c *appRun, args []string) error {
	id, err := c.appArg(c.flags(), args, "APP")
	if err != nil {
		return err
	}
	k, err := c.api.CurrentKey(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, k, printSecretKey)
}

// appPrivNames are the privilege bits by name, TRTC's values.
var appPrivNames = map[string]uint32{
	"create": 1, "enter": 2, "send-audio": 4, "recv-audio": 8,
	"send-video": 16, "recv-video": 32, "send-sub": 64, "recv-sub": 128, "all": 255,
}

// parsePrivileges reads a privilege mask: a number (0..255) or names
// joined by "," or "|" (create, enter, send-audio, recv-audio, send-video,
// recv-video, send-sub, recv-sub, all).
func parsePrivileges(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 0, 32); err == nil {
		if n > admin.MaxPrivileges {
			return 0, errors.New("--privileges must be 0..255")
		}
		return uint32(n), nil
	}
	var p uint32
	for name := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == '|' }) {
		bit, ok := appPrivNames[strings.TrimSpace(name)]
		if !ok {
			return 0, fmt.Errorf("--privileges: unknown privilege %q", name)
		}
		p |= bit
	}
	return p, nil
}

// roomFlags are --room and --str-room.
type roomFlags struct{ room, strRoom string }

func newRoomFlags(fs *flag.FlagSet) *roomFlags {
	r := &roomFlags{}
	fs.StringVar(&r.room, "room", "", "numeric roomId")
	fs.StringVar(&r.strRoom, "str-room", "", "string strRoomId (\"123\" is not room 123)")
	return r
}

// get returns the room given; required: exactly one must be given.
func (r *roomFlags) get(required bool) (admin.RoomJSON, error) {
	switch {
	case r.room != "" && r.strRoom != "":
		return admin.RoomJSON{}, errors.New("--room and --str-room are exclusive")
	case r.room != "":
		n, err := strconv.ParseUint(r.room, 10, 32)
		if err != nil || n == 0 || n > admin.MaxRoomID {
			return admin.RoomJSON{}, errors.New("--room must be a number from 1 to 4294967294")
		}
		return admin.RoomJSON{RoomID: uint32(n)}, nil
	case r.strRoom != "":
		return admin.RoomJSON{StrRoomID: r.strRoom}, nil
	case required:
		return admin.RoomJSON{}, errors.New("give --room or --str-room")
	}
	return admin.RoomJSON{}, nil
}

func appUserSig(c *appRun, args []string) error {
	fs := c.flags()
	user := fs.String("user", "", "user id (required)")
	format := fs.String("format", admin.FormatJWT, "jwt or tls (TRTC TLSSigAPIv2)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime, capped at the app's max token TTL")
	privs := fs.String("privileges", "", "privilege bits with a room: 0..255 or names (create,enter,send-audio,recv-audio,send-video,recv-video,send-sub,recv-sub,all)")
	role := fs.String("role", "", "anchor or audience (jwt only)")
	consent := fs.String("consent", "", "adult or parental: state that the user's consent was obtained, on that basis (jwt only)")
	rf := newRoomFlags(fs.FlagSet)
	id, err := c.appArg(fs, args, "APP --user ID [--format jwt|tls] [--ttl 1h] [--room N | --str-room S] [--privileges P] [--role R] [--consent C]")
	if err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	if err := checkWholeSeconds("ttl", *ttl); err != nil {
		return err
	}
	if *consent != "" && *consent != admin.ConsentAdult && *consent != admin.ConsentParental {
		return fmt.Errorf("--consent must be %s or %s", admin.ConsentAdult, admin.ConsentParental)
	}
	req := admin.UserSigRequest{UserID: *user, Format: *format, TTLSeconds: int64(*ttl / time.Second), Role: *role, Consent: *consent}
	if req.RoomJSON, err = rf.get(false); err != nil {
		return err
	}
	if *privs != "" {
		p, err := parsePrivileges(*privs)
		if err != nil {
			return err
		}
		req.Privileges = &p
	}
	s, err := c.api.MintUserSig(c.ctx, id, req)
	if err != nil {
		return err
	}
	return show(c, s, printUserSig)
}

func appRooms(c *appRun, args []string) error {
	id, err := c.appArg(c.flags(), args, "APP")
	if err != nil {
		return err
	}
	rooms, err := c.api.ListRooms(c.ctx, id)
	if err != nil {
		return err
	}
	return show(c, admin.RoomsJSON{Rooms: rooms}, printRooms)
}

func appDismiss(c *appRun, args []string) error {
	fs := c.flags()
	rf := newRoomFlags(fs.FlagSet)
	id, err := c.appArg(fs, args, "APP --room N | --str-room S")
	if err != nil {
		return err
	}
	room, err := rf.get(true)
	if err != nil {
		return err
	}
	if err := c.api.DismissRoom(c.ctx, id, room); err != nil {
		return err
	}
	return c.done("dismissed")
}

func appRemoveUser(c *appRun, args []string) error {
	fs := c.flags()
	rf := newRoomFlags(fs.FlagSet)
	user := fs.String("user", "", "user id (required)")
	id, err := c.appArg(fs, args, "APP --room N | --str-room S --user ID")
	if err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	room, err := rf.get(true)
	if err != nil {
		return err
	}
	if err := c.api.RemoveUser(c.ctx, id, admin.RemoveUserRequest{RoomJSON: room, UserID: *user}); err != nil {
		return err
	}
	return c.done("removed")
}

func appBlock(blocked bool) func(c *appRun, args []string) error {
	return func(c *appRun, args []string) error {
		fs := c.flags()
		rf := newRoomFlags(fs.FlagSet)
		user := fs.String("user", "", "user id (required)")
		audio := fs.Bool("audio", false, "audio (without --audio or --video: both)")
		video := fs.Bool("video", false, "video (without --audio or --video: both)")
		id, err := c.appArg(fs, args, "APP --room N | --str-room S --user ID [--audio] [--video]")
		if err != nil {
			return err
		}
		if *user == "" {
			return errors.New("--user is required")
		}
		if !*audio && !*video {
			*audio, *video = true, true
		}
		room, err := rf.get(true)
		if err != nil {
			return err
		}
		req := admin.BlockRequest{RoomJSON: room, UserID: *user, Audio: *audio, Video: *video, Blocked: blocked}
		if err := c.api.BlockUser(c.ctx, id, req); err != nil {
			return err
		}
		if blocked {
			return c.done("blocked")
		}
		return c.done("unblocked")
	}
}
