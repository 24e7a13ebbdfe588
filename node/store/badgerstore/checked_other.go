//go:build !linux

package badgerstore

import "errors"

// statID is not implemented outside Linux: every table is checked at
// every Open.
func statID(path string) (fileID, error) {
	return fileID{}, errors.New("badgerstore: no file identity on this platform")
}
