package command

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func FuzzParseSet(f *testing.F) {
	for _, s := range []string{"name=Amina", "age:=12", "tags:=[\"a\",1,null]", "x:=", "=v", ":=1", "a:b=c", "k=v=w", "note=a,b", "k:=  {\"a\": {}} ", "k:=1 2", "\xff=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := parseSet(s)
		if err != nil {
			return
		}
		if k == "" || strings.Contains(k, "=") || v == nil {
			t.Fatalf("parseSet(%q) = %q, %v", s, k, v)
		}
		rest := s[strings.Index(s, "=")+1:]
		if strings.HasPrefix(s, k+"=") && v.GetStringValue() != rest {
			t.Fatalf("parseSet(%q): string value %q, want %q", s, v.GetStringValue(), rest)
		}
		if strings.HasPrefix(s, k+":=") {
			if _, err := jsonValue([]byte(rest)); err != nil {
				t.Fatalf("parseSet(%q) accepted JSON that jsonValue rejects: %v", s, err)
			}
		}
	})
}

// checkRows reads every row of rr and checks the reader's promises: it ends,
// rows are numbered upwards from 1, and a row has either fields or an error.
func checkRows(t *testing.T, rr rowReader, size int) {
	last := int64(0)
	for i := 0; ; i++ {
		r, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if i > size+1 {
			t.Fatalf("more rows than bytes: the reader does not end")
		}
		if r.Row <= last {
			t.Fatalf("row %d after row %d", r.Row, last)
		}
		last = r.Row
		if (r.Err == "") == (r.Fields == nil) {
			t.Fatalf("row %d: error %q and fields %v", r.Row, r.Err, r.Fields)
		}
		if r.Fields != nil {
			if _, ok := r.Fields.Fields["form"]; ok {
				t.Fatalf("row %d: the form key was not removed", r.Row)
			}
		}
	}
}

func FuzzJSONLReader(f *testing.F) {
	for _, s := range []string{
		"{\"name\": \"Amina\"}\n{\"name\": \"Baraka\", \"form\": \"followup\"}\n",
		"\n\n{\"a\": [1, {\"b\": null}]}\r\n[1]\n{\"form\": 2}\n{bad\n",
		"\xEF\xBB\xBF{\"a\": 1}",
		"{\"a\": 1} {\"b\": 2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRows(t, newJSONLReader(bytes.NewReader(b)), len(b))
	})
}

func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		"name,age\nAmina,12\nBaraka\n,,\n\"x\ny\",3\n",
		"name,form\na,followup\nb,\n",
		"\xEF\xBB\xBFa,b\n1,\"2\n",
		"a,a\n1,2\n",
		"a,\"b\nc\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := newCSVReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		checkRows(t, cr, len(b))
	})
}
