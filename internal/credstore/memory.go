package credstore

import (
	"fmt"
	"sync"
)

// Memory is an in-process Store for tests of the commands. Err, when set, makes every call fail
// as an unavailable keyring does.
type Memory struct {
	mu     sync.Mutex
	tokens map[string]string
	Err    error
}

func NewMemory() *Memory { return &Memory{tokens: map[string]string{}} }

func (m *Memory) Get(env, slug string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return "", &UnavailableError{Err: m.Err}
	}
	t, ok := m.tokens[Account(env, slug)]
	if !ok {
		return "", ErrNotFound
	}
	return t, nil
}

func (m *Memory) Set(env, slug, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return &UnavailableError{Err: m.Err}
	}
	m.tokens[Account(env, slug)] = token
	return nil
}

func (m *Memory) Delete(env, slug string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return &UnavailableError{Err: m.Err}
	}
	if _, ok := m.tokens[Account(env, slug)]; !ok {
		return ErrNotFound
	}
	delete(m.tokens, Account(env, slug))
	return nil
}

func (m *Memory) Describe(env, slug string) string {
	return fmt.Sprintf("test memory store (account %q)", Account(env, slug))
}

// Len is the number of stored tokens.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tokens)
}
