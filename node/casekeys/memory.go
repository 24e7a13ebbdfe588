package casekeys

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
)

// Memory is a Store in process memory, for tests: its keys die with the
// process. The zero value is not usable; call NewMemory. It is safe for
// concurrent use.
type Memory struct {
	mu        sync.Mutex
	keys      map[string][]byte
	destroyed map[string]bool
}

var (
	_ Store       = (*Memory)(nil)
	_ ManyCreator = (*Memory)(nil)
)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{keys: map[string][]byte{}, destroyed: map[string]bool{}}
}

// Create makes and keeps a new random key for caseID.
func (m *Memory) Create(ctx context.Context, caseID string) ([]byte, error) {
	ks, err := m.CreateMany(ctx, []string{caseID})
	if err != nil {
		return nil, err
	}
	return ks[0], nil
}

// CreateMany creates keys for every id, all or nothing.
func (m *Memory) CreateMany(ctx context.Context, caseIDs []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(caseIDs))
	for _, id := range caseIDs {
		if err := CheckID(id); err != nil {
			return nil, err
		}
		switch {
		case m.destroyed[id]:
			return nil, ErrDestroyed
		case m.keys[id] != nil || seen[id]:
			return nil, ErrExists
		}
		seen[id] = true
	}
	out := make([][]byte, len(caseIDs))
	for i, id := range caseIDs {
		k := make([]byte, KeySize)
		rand.Read(k)
		m.keys[id] = k
		out[i] = bytes.Clone(k)
	}
	return out, nil
}

// Get returns caseID's key.
func (m *Memory) Get(ctx context.Context, caseID string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckID(caseID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed[caseID] {
		return nil, ErrDestroyed
	}
	k, ok := m.keys[caseID]
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(k), nil
}

// Destroy overwrites and forgets caseID's key.
func (m *Memory) Destroy(ctx context.Context, caseID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckID(caseID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.keys[caseID])
	delete(m.keys, caseID)
	m.destroyed[caseID] = true
	return nil
}
