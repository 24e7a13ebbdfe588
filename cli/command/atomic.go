package command

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// outFile is an export destination: a temporary file next to path, renamed
// over path by Commit, so an interrupted export never leaves a partial file
// under the final name. With path "-" it writes to stdout instead.
type outFile struct {
	*bufio.Writer
	f    *os.File // nil for stdout
	path string
}

// createOut opens an export destination. Exported files hold case data and
// are created with mode 0600.
func createOut(path string, stdout io.Writer) (*outFile, error) {
	if path == "-" {
		return &outFile{Writer: bufio.NewWriterSize(stdout, 64<<10), path: path}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &outFile{Writer: bufio.NewWriterSize(f, 64<<10), f: f, path: path}, nil
}

// Commit flushes, syncs and renames the file into place.
func (o *outFile) Commit() error {
	if err := o.Flush(); err != nil {
		o.Abort()
		return err
	}
	if o.f == nil {
		return nil
	}
	if err := o.f.Sync(); err != nil {
		o.Abort()
		return err
	}
	if err := o.f.Close(); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	if err := os.Rename(o.f.Name(), o.path); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	o.f = nil
	return nil
}

// Abort removes the temporary file; it is a no-op after Commit.
func (o *outFile) Abort() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.f.Name())
		o.f = nil
	}
}
