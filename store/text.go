package store

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits on the text an application carries.
const (
	MaxAppNameLen = 64 // bytes
	MaxTags       = 16
	MaxTagLen     = 32 // bytes
)

// checkText reports why s is not acceptable as a name or tag of at most
// maxLen bytes: empty, too long, not UTF-8, or holding a control character
// (C0 such as CR and LF, DEL, C1), a line or paragraph separator, or a
// bidirectional formatting character, any of which could forge or disguise
// lines in whatever later displays or logs it.
func checkText(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return fmt.Errorf("%w: %s must be 1..%d bytes", ErrInvalid, what, maxLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		if forbiddenRune(r) {
			return fmt.Errorf("%w: %s holds a control character", ErrInvalid, what)
		}
	}
	return nil
}

func forbiddenRune(r rune) bool {
	switch {
	case unicode.IsControl(r), unicode.In(r, unicode.Zl, unicode.Zp):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi embeddings, overrides, isolates and marks
	}
	return false
}

// checkName validates an application name.
func checkName(name string) error { return checkText("app name", name, MaxAppNameLen) }

// checkTags validates a tag list: at most MaxTags distinct tags.
func checkTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: at most %d tags", ErrInvalid, MaxTags)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := checkText("tag", t, MaxTagLen); err != nil {
			return err
		}
		if seen[t] {
			return fmt.Errorf("%w: duplicate tag", ErrInvalid)
		}
		seen[t] = true
	}
	return nil
}
