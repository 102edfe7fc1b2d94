package credstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/ooctl/oo/internal/atomicfile"
)

// File keeps tokens in plain text in a 0600 JSON file. It exists for machines without a keyring
// and is used only when the user asks for it (--insecure-storage).
type File struct {
	Path string
	mu   sync.Mutex
}

// NewFile is the insecure store at path.
func NewFile(path string) *File { return &File{Path: path} }

type fileData struct {
	Tokens map[string]string `json:"tokens"`
}

func (f *File) read() (*fileData, error) {
	d := &fileData{}
	raw, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		d.Tokens = map[string]string{}
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	if d.Tokens == nil {
		d.Tokens = map[string]string{}
	}
	return d, nil
}

func (f *File) write(d *fileData) error {
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(f.Path, append(raw, '\n'))
}

func (f *File) Get(env, slug string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.read()
	if err != nil {
		return "", err
	}
	tok, ok := d.Tokens[Account(env, slug)]
	if !ok {
		return "", ErrNotFound
	}
	return tok, nil
}

// update runs change on the file's contents under both locks (this process's and other oo
// processes'), then writes the result back; an empty result removes the file.
func (f *File) update(change func(d *fileData) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	unlock, err := atomicfile.Lock(f.Path)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := f.read()
	if err != nil {
		return err
	}
	if err := change(d); err != nil {
		return err
	}
	if len(d.Tokens) == 0 {
		err := os.Remove(f.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return f.write(d)
}

func (f *File) Set(env, slug, token string) error {
	return f.update(func(d *fileData) error {
		d.Tokens[Account(env, slug)] = token
		return nil
	})
}

func (f *File) Delete(env, slug string) error {
	return f.update(func(d *fileData) error {
		if _, ok := d.Tokens[Account(env, slug)]; !ok {
			return ErrNotFound
		}
		delete(d.Tokens, Account(env, slug))
		return nil
	})
}

func (f *File) Describe(env, slug string) string {
	return fmt.Sprintf("plain-text file %s (insecure storage)", f.Path)
}
