// Package smallfile reads files that must be small (keys, certificates,
// registries, password files named on a command line) without letting a
// huge or endless file (a device, a pipe) grow memory: at most limit
// bytes are read, and a longer file is an error naming it.
package smallfile

import (
	"fmt"
	"io"
	"os"
)

// Read returns the content of path, or an error when it is longer than
// limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
