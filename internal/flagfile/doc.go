// Package flagfile configures a flag.FlagSet from a YAML file and from
// environment variables, so that every flag of a command has a key in the
// file and a variable without a line of its own: the key is the flag's
// name (udp-port: 7882), the variable the prefix and the name in upper
// case with '-' as '_' (LETHE_UDP_PORT).
//
// A value set on the command line wins over the variable, the variable
// over the file, the file over the flag's default. Booleans are YAML
// booleans, durations Go duration strings ("10s"), and a flag the caller
// marks as a list also takes a YAML sequence, joined with commas. An
// unknown key, a value of the wrong type and a malformed file are errors
// naming the file and the line; an unknown key's error suggests the
// nearest known one. Print writes the effective configuration back as
// YAML, each value with where it came from, and the values of flags the
// caller marks as secret redacted.
//
// It runs in the control process (lethe serve reads its configuration
// with it), before anything else starts; it keeps no state of its own.
package flagfile
