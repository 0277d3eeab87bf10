package topic

import "strings"

// Covers reports whether every topic name that filter matches is also
// matched by grant, both plain filters (pass the inner filter of a shared
// subscription). It is how a permission on a filter decides a SUBSCRIBE:
// "a/#" covers "a/b/+" and "a", "+/x" covers "b/x" but not "#", and no
// filter starting with a wildcard covers one starting with '$'
// [MQTT-4.7.2-1]. It does not allocate.
func Covers(grant, filter string) bool {
	if grant == "" || filter == "" {
		return false
	}
	gi, fi := 0, 0
	for {
		gj := levelEnd(grant, gi)
		gl := grant[gi:gj]
		gwild := gl == "+" || gl == "#"
		if gwild && gi == 0 && strings.HasPrefix(filter, "$") {
			return false
		}
		if gl == "#" {
			return gj == len(grant)
		}
		if fi > len(filter) {
			return false // the filter has fewer levels than the grant
		}
		fj := levelEnd(filter, fi)
		fl := filter[fi:fj]
		switch {
		case fl == "#":
			return false // only a '#' covers a '#'
		case gl == "+":
		case fl == "+" || fl != gl:
			return false
		}
		gi, fi = gj+1, fj+1
		if gi > len(grant) {
			return fi > len(filter)
		}
	}
}
