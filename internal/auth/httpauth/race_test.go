//go:build race

package httpauth

const raceEnabled = true
