// Package joined splits the errors that errors.Join joined, so that each
// can be reported on its own line, with a prefix or a location of its own:
// the one home of that rule for the packages that validate configs and
// specs (pipeline, policy) and the CLI that prints their problems.
package joined

import "strings"

// Split returns the errors errors.Join joined into err, recursively, in
// order; any other error is returned alone (a fmt.Errorf with several %w
// is one message, not a list). It returns nil for a nil err.
func Split(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var msgs []string
	var out []error
	for _, e := range j.Unwrap() {
		if e != nil {
			msgs = append(msgs, e.Error())
			out = append(out, Split(e)...)
		}
	}
	if strings.Join(msgs, "\n") != err.Error() { // not a join: fmt.Errorf with several %w, say
		return []error{err}
	}
	return out
}
