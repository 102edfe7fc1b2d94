package cmdutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/itchyny/gojq"
)

// JQWriter runs every JSON document written to it through a jq program and writes the results
// to the underlying writer: strings raw (as jq -r does, so `--jq '.instances[].id'` gives bare
// IDs for xargs), anything else as indented JSON. Documents are filtered as they complete, so a
// stream such as `oo instance ls --watch -o json` stays a stream.
type JQWriter struct {
	pw   *io.PipeWriter
	done chan error
}

// NewJQWriter compiles expr (a bad expression is a usage error, reported before anything runs)
// and starts filtering into out. Close flushes and returns the first error.
func NewJQWriter(expr string, out io.Writer) (*JQWriter, error) {
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, Usagef("--jq %q: %v", expr, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, Usagef("--jq %q: %v", expr, err)
	}
	pr, pw := io.Pipe()
	w := &JQWriter{pw: pw, done: make(chan error, 1)}
	go func() {
		err := filterStream(code, pr, out)
		pr.CloseWithError(err) // unblock a writer if we stopped early
		w.done <- err
	}()
	return w, nil
}

func (w *JQWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the input and waits for the filter to finish.
func (w *JQWriter) Close() error {
	w.pw.Close()
	return <-w.done
}

func filterStream(code *gojq.Code, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	dec.UseNumber() // gojq takes json.Number: large integers stay exact
	for {
		var doc any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("--jq: the command's output is not JSON: %w", err)
		}
		iter := code.Run(doc)
		for {
			v, ok := iter.Next()
			if !ok {
				break
			}
			if err, isErr := v.(error); isErr {
				var halt *gojq.HaltError
				if errors.As(err, &halt) && halt.Value() == nil {
					return nil
				}
				return fmt.Errorf("--jq: %v", err)
			}
			if err := writeJQValue(out, v); err != nil {
				return err
			}
		}
	}
}

func writeJQValue(out io.Writer, v any) error {
	if s, ok := v.(string); ok {
		_, err := io.WriteString(out, s+"\n")
		return err
	}
	b, err := gojq.Marshal(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = out.Write(buf.Bytes())
	return err
}
