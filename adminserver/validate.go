package adminserver

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/lethe-rtc/lethe/admin"
)

// forbidden reports whether r may not appear in any string the API
// accepts: control characters (C0, DEL, C1, including CR and LF), the line
// and paragraph separators, the bidirectional overrides and isolates that
// can disguise text, and U+FFFD, which stands for bytes that were not UTF-8.
func forbidden(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029', r == utf8.RuneError:
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	}
	return false
}

// validText reports whether s is 1..maxLen bytes of UTF-8 without a
// forbidden rune and, unless spaces, without white space. A name may hold
// inner spaces but may not start or end with one.
func validText(s string, maxLen int, spaces bool) bool {
	if s == "" || len(s) > maxLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if forbidden(r) || (!spaces && unicode.IsSpace(r)) {
			return false
		}
	}
	if spaces {
		first, _ := utf8.DecodeRuneInString(s)
		last, _ := utf8.DecodeLastRuneInString(s)
		if unicode.IsSpace(first) || unicode.IsSpace(last) {
			return false
		}
	}
	return true
}

func validName(s string) bool   { return validText(s, admin.MaxNameLen, true) }
func validUserID(s string) bool { return validText(s, admin.MaxUserIDLen, false) }

// validTags checks the tag list: at most admin.MaxTags tags, each 1..MaxTagLen
// bytes without forbidden runes or surrounding spaces, no duplicates.
func validTags(tags []string) (string, bool) {
	if len(tags) > admin.MaxTags {
		return "at most " + strconv.Itoa(admin.MaxTags) + " tags", false
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if !validText(t, admin.MaxTagLen, true) {
			return "each tag must be 1-" + strconv.Itoa(admin.MaxTagLen) + " bytes without control characters or surrounding spaces", false
		}
		if seen[t] {
			return "duplicate tag", false
		}
		seen[t] = true
	}
	return "", true
}

// parseAppID parses an SDKAppID path segment: 1..10 decimal digits, no
// sign, no leading zero, at most MaxUint32, not zero.
func parseAppID(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}
