//go:build !linux

package badgerstore

// ReleaseMapped does nothing outside Linux: it returns 0, nil.
func ReleaseMapped(dir string) (int64, error) { return 0, nil }

// Prefetch does nothing outside Linux.
func Prefetch(dir string) {}
