package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// parseSet parses one --set argument: "field=value" sets field to the
// string value (the node coerces it by the field's type), "field:=JSON"
// sets it to a JSON value (a number, true, null, a list, an object...).
// The field name is everything before the first "=" (without a trailing
// ":" for the JSON form).
func parseSet(s string) (string, *structpb.Value, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", nil, fmt.Errorf("--set %q: want field=value or field:=JSON", s)
	}
	isJSON := strings.HasSuffix(k, ":")
	if isJSON {
		k = strings.TrimSuffix(k, ":")
	}
	if k == "" {
		return "", nil, fmt.Errorf("--set %q: empty field name", s)
	}
	if err := validUTF8(k); err != nil {
		return "", nil, fmt.Errorf("--set %q: field name: %w", s, err)
	}
	if strings.TrimSpace(k) != k {
		return "", nil, fmt.Errorf("--set %q: field name %q has leading or trailing space", s, k)
	}
	if !isJSON {
		val := structpb.NewStringValue(v)
		if err := validUTF8(v); err != nil {
			return "", nil, fmt.Errorf("--set %s: %w", k, err)
		}
		return k, val, nil
	}
	val, err := jsonValue([]byte(v))
	if err != nil {
		return "", nil, fmt.Errorf("--set %s:=%s: %w", k, v, err)
	}
	return k, val, nil
}

func validUTF8(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	return nil
}

// jsonValue decodes exactly one JSON value.
func jsonValue(b []byte) (*structpb.Value, error) {
	var x any
	if err := decodeOne(b, &x); err != nil {
		return nil, err
	}
	v, err := structpb.NewValue(x)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return v, nil
}

// jsonObject decodes exactly one JSON object into a Struct.
func jsonObject(b []byte) (*structpb.Struct, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var m map[string]any
	if err := decodeOne(b, &m); err != nil {
		return nil, err
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return s, nil
}

func decodeOne(b []byte, x any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(x); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("invalid JSON: empty")
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: extra data after the value")
	}
	return nil
}

// caseFields builds the fields of a create or update request from an
// optional JSON file (an object of fields) and --set arguments, which are
// applied after the file and override it.
func caseFields(file string, sets []string) (*structpb.Struct, error) {
	fields := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		s, err := jsonObject(b)
		if err != nil {
			return nil, usageErrorf("%s: %v: want a JSON object of fields", file, err)
		}
		fields = s
	}
	for _, a := range sets {
		k, v, err := parseSet(a)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		fields.Fields[k] = v
	}
	return fields, nil
}
