package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// appSubcommand is one `lethe app` subcommand: it talks to the admin API.
type appSubcommand struct {
	name, args, summary string
	run                 func(c *appClient, args []string) error
}

func appSubcommands() []appSubcommand {
	return []appSubcommand{
		{"list", "", "list applications", appList},
		{"create", "--name NAME [--tag T]... [policy flags]", "create an application", appCreate},
		{"get", "APP", "show an application", appGet},
		{"update", "APP [--name NAME] [--tag T]... [--clear-tags] [policy flags]", "change name, tags or policy", appUpdate},
		{"suspend", "APP", "suspend an application: its users are refused at once", appStatus("suspend")},
		{"resume", "APP", "resume a suspended application", appStatus("resume")},
		{"terminate", "APP --yes", "terminate an application for good: keys deleted now, data purged after its retention", appTerminate},
		{"delete", "APP --yes", "delete an application and all its data now (deletion on request)", appDelete},
		{"retention", "", "list pending purges and how overdue the oldest is", appRetention},
		{"log", "APP [--limit N]", "show the application log, newest first", appLog},
		{"keys", "APP", "list the key ring (no secrets)", appKeys},
		{"rotate", "APP", "make a new signing key now", appRotate},
		{"revoke", "APP KID", "delete a key: its tokens are refused at once", appRevoke},
		{"current-key", "APP", "print the current signing key and its secret (logged)", appCurrentKey},
		{"usersig", "APP --user ID [--format jwt|tls] [--ttl 1h] [--room N | --str-room S] [--privileges P] [--role R]", "mint a UserSig", appUserSig},
		{"rooms", "APP", "list live rooms and participants", appRooms},
		{"dismiss", "APP --room N | --str-room S", "end a room", appDismiss},
		{"remove-user", "APP --room N | --str-room S --user ID", "remove a user; their token cannot rejoin", appRemoveUser},
		{"block", "APP --room N | --str-room S --user ID [--audio] [--video]", "stop forwarding a user's audio and/or video", appBlock(true)},
		{"unblock", "APP --room N | --str-room S --user ID [--audio] [--video]", "resume forwarding a user's audio and/or video", appBlock(false)},
	}
}

// Defaults of the flags every subcommand takes.
const (
	defaultAdminServer  = "http://127.0.0.1:7880"
	defaultAdminKeyFile = "./lethe-data/admin.key"
	adminHTTPTimeout    = 30 * time.Second
)

// appClient is the shared configuration of a `lethe app` run: where the
// admin API is, the admin key, and how to print.
type appClient struct {
	ctx     context.Context
	name    string // the subcommand
	server  string
	keyFile string
	json    bool
	stdout  io.Writer
	stderr  io.Writer

	base *url.URL
	key  string
	http *http.Client
}

// appCommand runs `lethe app <subcommand>`: it talks HTTP to the admin API
// of a running `lethe serve`, with the admin key read from a file, and
// prints a readable table or, with --json, the API's JSON. The admin key is
// never printed.
func appCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &appClient{ctx: ctx, stdout: stdout, stderr: stderr, server: defaultAdminServer, keyFile: defaultAdminKeyFile}
	// Common flags may come before the subcommand, or after it.
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.commonFlags(fs)
	fs.Usage = func() { appUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	if fs.NArg() == 0 {
		appUsage(stderr)
		return flag.ErrHelp
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
	appUsage(stderr)
	return fmt.Errorf("app: unknown subcommand %q", name)
}

func appUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: lethe app [--server URL] [--admin-key-file PATH] [--json] <subcommand> [args]")
	fmt.Fprintln(w)
	for _, sc := range appSubcommands() {
		fmt.Fprintf(w, "  %-12s %s\n", sc.name, sc.summary)
	}
	fmt.Fprintln(w, "\nRun 'lethe app <subcommand> -h' for its flags. APP is an SDKAppID.")
}

func (c *appClient) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", c.server, "admin API base URL (plain http only to a loopback address)")
	fs.StringVar(&c.keyFile, "admin-key-file", c.keyFile, "file holding the admin key (<data-dir>/admin.key)")
	fs.BoolVar(&c.json, "json", c.json, "print the API's JSON instead of a table")
}

// flags returns the subcommand's flag set, with the common flags.
func (c *appClient) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("app "+c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	c.commonFlags(fs)
	return fs
}

// parse parses args with fs, flags and positional arguments in any order,
// into exactly len(pos) positional values, then prepares the HTTP client.
func (c *appClient) parse(fs *flag.FlagSet, args []string, usage string, pos ...*string) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: lethe app %s %s\n", c.name, usage)
		fs.PrintDefaults()
	}
	var got []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		got = append(got, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(got) != len(pos) {
		fs.Usage()
		return fmt.Errorf("want %d argument(s), got %d", len(pos), len(got))
	}
	for i, p := range pos {
		*p = got[i]
	}
	return c.connect()
}

// connect checks the server URL and reads the admin key.
func (c *appClient) connect() error {
	u, err := url.Parse(c.server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return errors.New("--server must be an http:// or https:// URL with a host, like " + defaultAdminServer)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("--server %s: refusing to send the admin key over plain http to a non-loopback host; use https", u.Host)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c.base = u
	raw, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	c.key = string(bytes.TrimSpace(raw))
	clear(raw)
	if c.key == "" {
		return fmt.Errorf("admin key: %s is empty", c.keyFile)
	}
	c.http = &http.Client{
		Timeout: adminHTTPTimeout,
		// The key goes to the server named, and nowhere it redirects to.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// apiError is an error reply of the admin API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// call sends one request; body, if not nil, is sent as JSON. It returns the
// reply's body for a 2xx status and an *apiError otherwise.
func (c *appClient) call(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(out, &eb) != nil || eb.Error.Code == "" {
			return nil, &apiError{Status: resp.StatusCode, Code: "http", Message: http.StatusText(resp.StatusCode)}
		}
		return nil, &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return out, nil
}

// show calls the API and prints its reply: the JSON as is with --json,
// otherwise decoded into v and printed by table. A reply without body (204)
// prints done in table mode and nothing in JSON mode.
func show[T any](c *appClient, method, path string, body any, table func(w io.Writer, v *T), done string) error {
	out, err := c.call(method, path, body)
	if err != nil {
		return err
	}
	if c.json {
		if len(bytes.TrimSpace(out)) == 0 {
			return nil
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, out, "", "  "); err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		buf.WriteByte('\n')
		_, err := c.stdout.Write(buf.Bytes())
		return err
	}
	if table == nil {
		_, err := fmt.Fprintln(c.stdout, done)
		return err
	}
	var v T
	if err := json.Unmarshal(out, &v); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	table(tw, &v)
	return tw.Flush()
}

// appPath is the API path of application id (validated here for a clear
// message; the server validates again).
func appPath(id string, suffix string) (string, error) {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != id {
		return "", fmt.Errorf("APP must be an SDKAppID (a number from 1 to 4294967295), not %q", id)
	}
	return "/v1/admin/apps/" + id + suffix, nil
}

const timeLayout = time.RFC3339

func printApp(w io.Writer, a *admin.AppJSON) {
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
	fmt.Fprintf(w, "max anchors per room\t%s\n", limit(a.Policy.MaxAnchorsPerRoom))
	fmt.Fprintf(w, "max participants per room\t%s\n", limit(a.Policy.MaxParticipantsPerRoom))
	fmt.Fprintf(w, "retention after termination\t%s\n", time.Duration(a.Policy.RetentionSeconds)*time.Second)
	if a.PurgeAt != nil {
		fmt.Fprintf(w, "purge at\t%s\n", a.PurgeAt.Format(timeLayout))
	}
}

func appList(c *appClient, args []string) error {
	if err := c.parse(c.flags(), args, ""); err != nil {
		return err
	}
	return show(c, "GET", "/v1/admin/apps", nil, func(w io.Writer, r *struct{ Apps []admin.AppJSON }) {
		fmt.Fprintln(w, "SDKAPPID\tNAME\tSTATUS\tTAGS\tCREATED")
		for _, a := range r.Apps {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", a.SDKAppID, a.Name, a.Status, orDash(strings.Join(a.Tags, ",")), a.CreatedAt.Format(timeLayout))
		}
	}, "")
}

// appStrings is a repeatable string flag.
type appStrings []string

func (s *appStrings) String() string     { return strings.Join(*s, ",") }
func (s *appStrings) Set(v string) error { *s = append(*s, v); return nil }

// policyFlags are the policy flags of create and update.
type policyFlags struct {
	keyLifetime, maxTokenTTL    time.Duration
	retention                   time.Duration
	requirePMK                  bool
	maxAnchors, maxParticipants int
	fs                          *flag.FlagSet
}

func newPolicyFlags(fs *flag.FlagSet) *policyFlags {
	p := &policyFlags{fs: fs}
	fs.DurationVar(&p.keyLifetime, "key-lifetime", 24*time.Hour, "signing window of each new key (10m..168h)")
	fs.DurationVar(&p.maxTokenTTL, "max-token-ttl", 24*time.Hour, "longest token lifetime (1s..168h)")
	fs.BoolVar(&p.requirePMK, "require-private-map-key", false, "every entry needs a room binding with privilege bits")
	fs.IntVar(&p.maxAnchors, "max-anchors", 0, "anchors per room (0: unlimited)")
	fs.IntVar(&p.maxParticipants, "max-participants", 0, "participants per room (0: unlimited)")
	fs.DurationVar(&p.retention, "retention", 7*24*time.Hour, "how long after termination the app's data is kept (1h..168h)")
	return p
}

// patch returns the policy fields set on the command line, as the API's
// JSON, or nil if none was set.
func (p *policyFlags) patch() (map[string]any, error) {
	m := map[string]any{}
	var err error
	p.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "key-lifetime":
			m["keyLifetimeSeconds"] = int64(p.keyLifetime / time.Second)
			err = errors.Join(err, checkWholeSeconds(f.Name, p.keyLifetime))
		case "max-token-ttl":
			m["maxTokenTtlSeconds"] = int64(p.maxTokenTTL / time.Second)
			err = errors.Join(err, checkWholeSeconds(f.Name, p.maxTokenTTL))
		case "require-private-map-key":
			m["requirePrivateMapKey"] = p.requirePMK
		case "max-anchors":
			m["maxAnchorsPerRoom"] = p.maxAnchors
		case "max-participants":
			m["maxParticipantsPerRoom"] = p.maxParticipants
		case "retention":
			m["retentionSeconds"] = int64(p.retention / time.Second)
			err = errors.Join(err, checkWholeSeconds(f.Name, p.retention))
		}
	})
	if err != nil || len(m) == 0 {
		return nil, err
	}
	return m, nil
}

func checkWholeSeconds(name string, d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("--%s must be whole seconds, at least 1s", name)
	}
	return nil
}

func appCreate(c *appClient, args []string) error {
	fs := c.flags()
	name := fs.String("name", "", "application name (required, 1-64 bytes)")
	var tags appStrings
	fs.Var(&tags, "tag", "a tag (repeatable, at most 16)")
	pf := newPolicyFlags(fs)
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
	body := map[string]any{"name": *name, "tags": []string(tags)}
	if tags == nil {
		body["tags"] = []string{}
	}
	if policy != nil {
		body["policy"] = policy
	}
	return show(c, "POST", "/v1/admin/apps", body, printApp, "")
}

func appGet(c *appClient, args []string) error {
	var id string
	if err := c.parse(c.flags(), args, "APP", &id); err != nil {
		return err
	}
	path, err := appPath(id, "")
	if err != nil {
		return err
	}
	return show(c, "GET", path, nil, printApp, "")
}

func appUpdate(c *appClient, args []string) error {
	fs := c.flags()
	name := fs.String("name", "", "new name")
	var tags appStrings
	fs.Var(&tags, "tag", "a tag (repeatable): the tags become exactly these")
	clearTags := fs.Bool("clear-tags", false, "remove every tag")
	pf := newPolicyFlags(fs)
	var id string
	if err := c.parse(fs, args, "APP [--name NAME] [--tag T]... [--clear-tags] [policy flags]", &id); err != nil {
		return err
	}
	path, err := appPath(id, "")
	if err != nil {
		return err
	}
	body := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			body["name"] = *name
		case "tag":
			body["tags"] = []string(tags)
		}
	})
	if *clearTags {
		if tags != nil {
			return errors.New("--clear-tags and --tag are exclusive")
		}
		body["tags"] = []string{}
	}
	policy, err := pf.patch()
	if err != nil {
		return err
	}
	if policy != nil {
		body["policy"] = policy
	}
	if len(body) == 0 {
		return errors.New("nothing to update: give --name, --tag, --clear-tags or a policy flag")
	}
	return show(c, "PATCH", path, body, printApp, "")
}

func appStatus(action string) func(c *appClient, args []string) error {
	return func(c *appClient, args []string) error {
		var id string
		if err := c.parse(c.flags(), args, "APP", &id); err != nil {
			return err
		}
		path, err := appPath(id, "/"+action)
		if err != nil {
			return err
		}
		return show(c, "POST", path, nil, printApp, "")
	}
}

// appIrreversible parses APP and the --yes an irreversible subcommand
// requires, and returns the API path of action.
func appIrreversible(c *appClient, args []string, action, warning string) (string, error) {
	fs := c.flags()
	yes := fs.Bool("yes", false, "confirm: "+warning)
	var id string
	if err := c.parse(fs, args, "APP --yes", &id); err != nil {
		return "", err
	}
	path, err := appPath(id, "/"+action)
	if err != nil {
		return "", err
	}
	if !*yes {
		return "", fmt.Errorf("%s cannot be undone: %s; add --yes", action, warning)
	}
	return path, nil
}

func appTerminate(c *appClient, args []string) error {
	path, err := appIrreversible(c, args, "terminate",
		"the application stops for good, its keys are deleted now and its data is purged after its retention")
	if err != nil {
		return err
	}
	return show(c, "POST", path, nil, printApp, "")
}

func appDelete(c *appClient, args []string) error {
	path, err := appIrreversible(c, args, "delete", "the application, its keys and its log are deleted now")
	if err != nil {
		return err
	}
	return show(c, "POST", path, nil, func(w io.Writer, r *struct{ Deleted, Checkpointed bool }) {
		if r.Checkpointed {
			fmt.Fprintln(w, "deleted")
			return
		}
		fmt.Fprintln(w, "deleted (the database files are cleared at the next sweep)")
	}, "")
}

func appRetention(c *appClient, args []string) error {
	if err := c.parse(c.flags(), args, ""); err != nil {
		return err
	}
	type reply struct {
		RetentionCapSeconds int64 `json:"retentionCapSeconds"`
		Pending             []struct {
			SDKAppID uint32    `json:"sdkAppId"`
			DueAt    time.Time `json:"dueAt"`
		} `json:"pending"`
		OldestOverdueSeconds int64 `json:"oldestOverdueSeconds"`
	}
	return show(c, "GET", "/v1/admin/retention", nil, func(w io.Writer, r *reply) {
		fmt.Fprintf(w, "retention cap\t%s\n", time.Duration(r.RetentionCapSeconds)*time.Second)
		fmt.Fprintf(w, "oldest overdue\t%s\n", time.Duration(r.OldestOverdueSeconds)*time.Second)
		fmt.Fprintf(w, "pending purges\t%d\n", len(r.Pending))
		if len(r.Pending) > 0 {
			fmt.Fprintln(w, "\nSDKAPPID\tPURGE AT")
			for _, p := range r.Pending {
				fmt.Fprintf(w, "%d\t%s\n", p.SDKAppID, p.DueAt.Format(timeLayout))
			}
		}
	}, "")
}

func appLog(c *appClient, args []string) error {
	fs := c.flags()
	limit := fs.Int("limit", 100, "entries to show (1..1000)")
	var id string
	if err := c.parse(fs, args, "APP [--limit N]", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/log?limit="+strconv.Itoa(*limit))
	if err != nil {
		return err
	}
	type entry struct {
		ID        int64     `json:"id"`
		AppName   string    `json:"appName"`
		Tags      []string  `json:"tags"`
		Status    string    `json:"status"`
		CreatedAt time.Time `json:"createdAt"`
		Operation string    `json:"operation"`
	}
	return show(c, "GET", path, nil, func(w io.Writer, r *struct{ Entries []entry }) {
		fmt.Fprintln(w, "ID\tTIME\tOPERATION\tSTATUS\tNAME\tTAGS")
		for _, e := range r.Entries {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.CreatedAt.Format(timeLayout), e.Operation, e.Status, e.AppName, strings.Join(e.Tags, ","))
		}
	}, "")
}

func appKeys(c *appClient, args []string) error {
	var id string
	if err := c.parse(c.flags(), args, "APP", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/keys")
	if err != nil {
		return err
	}
	return show(c, "GET", path, nil, func(w io.Writer, r *struct{ Keys []admin.KeyJSON }) {
		fmt.Fprintln(w, "KID\tSTATE\tNOT BEFORE\tNOT AFTER\tVERIFIES UNTIL")
		for _, k := range r.Keys {
			until := "-"
			if k.VerifyUntil != nil {
				until = k.VerifyUntil.Format(timeLayout)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.State, k.NotBefore.Format(timeLayout), k.NotAfter.Format(timeLayout), until)
		}
	}, "")
}

func appRotate(c *appClient, args []string) error {
	var id string
	if err := c.parse(c.flags(), args, "APP", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/keys/rotate")
	if err != nil {
		return err
	}
	return show(c, "POST", path, nil, func(w io.Writer, k *admin.KeyJSON) {
		fmt.Fprintf(w, "kid\t%s\nstate\t%s\nnot before\t%s\nnot after\t%s\n",
			k.KID, k.State, k.NotBefore.Format(timeLayout), k.NotAfter.Format(timeLayout))
	}, "")
}

func appRevoke(c *appClient, args []string) error {
	var id, kid string
	if err := c.parse(c.flags(), args, "APP KID", &id, &kid); err != nil {
		return err
	}
	path, err := appPath(id, "/keys/"+url.PathEscape(kid)+"/revoke")
	if err != nil {
		return err
	}
	return show[struct{}](c, "POST", path, nil, nil, "revoked")
}

func appCurrentKey(c *appClient, args []string) error {
	var id string
	if err := c.parse(c.flags(), args, "APP", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/keys/current")
	if err != nil {
		return err
	}
	return show(c, "GET", path, nil, func(w io.Writer, k *admin.SecretKeyJSON) {
		fmt.Fprintf(w, "kid\t%s\n", k.KID)
		if k.Secret != "" {
			fmt.Fprintf(w, "secret\t%s\n", k.Secret)
		} else {
			fmt.Fprintf(w, "secret (base64)\t%s\n", k.SecretBase64)
		}
		fmt.Fprintf(w, "not before\t%s\nnot after\t%s\n", k.NotBefore.Format(timeLayout), k.NotAfter.Format(timeLayout))
	}, "")
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
		if n > 255 {
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

// add puts the room into body; required: exactly one must be given.
func (r *roomFlags) add(body map[string]any, required bool) error {
	switch {
	case r.room != "" && r.strRoom != "":
		return errors.New("--room and --str-room are exclusive")
	case r.room != "":
		n, err := strconv.ParseUint(r.room, 10, 32)
		if err != nil || n == 0 || n > 4294967294 {
			return errors.New("--room must be a number from 1 to 4294967294")
		}
		body["roomId"] = uint32(n)
	case r.strRoom != "":
		body["strRoomId"] = r.strRoom
	case required:
		return errors.New("give --room or --str-room")
	}
	return nil
}

func appUserSig(c *appClient, args []string) error {
	fs := c.flags()
	user := fs.String("user", "", "user id (required)")
	format := fs.String("format", "jwt", "jwt or tls (TRTC TLSSigAPIv2)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime, capped at the app's max token TTL")
	privs := fs.String("privileges", "", "privilege bits with a room: 0..255 or names (create,enter,send-audio,recv-audio,send-video,recv-video,send-sub,recv-sub,all)")
	role := fs.String("role", "", "anchor or audience (jwt only)")
	rf := newRoomFlags(fs)
	var id string
	if err := c.parse(fs, args, "APP --user ID [--format jwt|tls] [--ttl 1h] [--room N | --str-room S] [--privileges P] [--role R]", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/usersig")
	if err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	if err := checkWholeSeconds("ttl", *ttl); err != nil {
		return err
	}
	body := map[string]any{"userId": *user, "format": *format, "ttlSeconds": int64(*ttl / time.Second)}
	if err := rf.add(body, false); err != nil {
		return err
	}
	if *privs != "" {
		p, err := parsePrivileges(*privs)
		if err != nil {
			return err
		}
		body["privileges"] = p
	}
	if *role != "" {
		body["role"] = *role
	}
	type minted struct {
		Format        string    `json:"format"`
		UserSig       string    `json:"userSig"`
		PrivateMapKey string    `json:"privateMapKey"`
		KID           string    `json:"kid"`
		ExpiresAt     time.Time `json:"expiresAt"`
	}
	return show(c, "POST", path, body, func(w io.Writer, m *minted) {
		fmt.Fprintf(w, "userSig\t%s\n", m.UserSig)
		if m.PrivateMapKey != "" {
			fmt.Fprintf(w, "privateMapKey\t%s\n", m.PrivateMapKey)
		}
		fmt.Fprintf(w, "format\t%s\nkid\t%s\nexpires\t%s\n", m.Format, m.KID, m.ExpiresAt.Format(timeLayout))
	}, "")
}

func appRooms(c *appClient, args []string) error {
	var id string
	if err := c.parse(c.flags(), args, "APP", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/rooms")
	if err != nil {
		return err
	}
	return show(c, "GET", path, nil, func(w io.Writer, r *struct{ Rooms []admin.RoomInfoJSON }) {
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
	}, "")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func appDismiss(c *appClient, args []string) error {
	fs := c.flags()
	rf := newRoomFlags(fs)
	var id string
	if err := c.parse(fs, args, "APP --room N | --str-room S", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/rooms/dismiss")
	if err != nil {
		return err
	}
	body := map[string]any{}
	if err := rf.add(body, true); err != nil {
		return err
	}
	return show[struct{}](c, "POST", path, body, nil, "dismissed")
}

func appRemoveUser(c *appClient, args []string) error {
	fs := c.flags()
	rf := newRoomFlags(fs)
	user := fs.String("user", "", "user id (required)")
	var id string
	if err := c.parse(fs, args, "APP --room N | --str-room S --user ID", &id); err != nil {
		return err
	}
	path, err := appPath(id, "/rooms/remove-user")
	if err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	body := map[string]any{"userId": *user}
	if err := rf.add(body, true); err != nil {
		return err
	}
	return show[struct{}](c, "POST", path, body, nil, "removed")
}

func appBlock(blocked bool) func(c *appClient, args []string) error {
	return func(c *appClient, args []string) error {
		fs := c.flags()
		rf := newRoomFlags(fs)
		user := fs.String("user", "", "user id (required)")
		audio := fs.Bool("audio", false, "audio (without --audio or --video: both)")
		video := fs.Bool("video", false, "video (without --audio or --video: both)")
		var id string
		if err := c.parse(fs, args, "APP --room N | --str-room S --user ID [--audio] [--video]", &id); err != nil {
			return err
		}
		path, err := appPath(id, "/rooms/block")
		if err != nil {
			return err
		}
		if *user == "" {
			return errors.New("--user is required")
		}
		if !*audio && !*video {
			*audio, *video = true, true
		}
		body := map[string]any{"userId": *user, "audio": *audio, "video": *video, "blocked": blocked}
		if err := rf.add(body, true); err != nil {
			return err
		}
		done := "unblocked"
		if blocked {
			done = "blocked"
		}
		return show[struct{}](c, "POST", path, body, nil, done)
	}
}
