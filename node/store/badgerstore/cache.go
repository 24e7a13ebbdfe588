package badgerstore

import (
	"bytes"
	"sync"
)

// Cache of opened values.
//
// A hot record (a peer's record, an applied ISP document: several KB,
// read by every send and receive, often in the writer goroutine) would
// otherwise be read from the value log, decrypted by Badger and opened by
// the sealer on every Get. The cache keeps the opened value of a key
// together with the commit version it was read at; Get still asks Badger
// for the key's item (its index entry, not its value), and uses the
// cached value only when the item's version is the cached one. A value is
// therefore authenticated when first read from disk, and a hit returns
// that value, as of the version the transaction sees.
//
// Badger gives a key written in the running write transaction the
// transaction's read timestamp as its version, which can be the version
// of the value committed just before: the writer keeps the keys it has
// written (Set or Delete) and reads them around the cache, and never
// caches what it reads of them.
//
// Only Get uses the cache; Scan does not (one scan would push every hot
// value out). Memory is bounded by valueCacheBytes in all and
// valueCacheMaxEntry per value; when a value does not fit, entries taken
// at random (a map's iteration order) make room. Close drops the cache.

const (
	// valueCacheBytes bounds the cache's memory: values, keys and
	// valueCacheOverhead per entry.
	valueCacheBytes = 4 << 20
	// valueCacheMaxEntry is the largest value cached.
	valueCacheMaxEntry = 64 << 10
	// valueCacheOverhead approximates the map entry and slice headers.
	valueCacheOverhead = 64
)

// valueCache maps a key to its opened value at one commit version. A nil
// *valueCache caches nothing. It is safe for concurrent use.
type valueCache struct {
	mu      sync.Mutex
	entries map[string]cachedValue
	size    int // bytes counted against limit
	limit   int
}

type cachedValue struct {
	version uint64
	value   []byte // never modified, never handed out
}

func newValueCache(limit int) *valueCache {
	return &valueCache{entries: make(map[string]cachedValue), limit: limit}
}

func entrySize(key, value int) int { return key + value + valueCacheOverhead }

// get returns a copy of the value of key at version, if cached.
func (c *valueCache) get(key []byte, version uint64) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.entries[string(key)]
	c.mu.Unlock()
	if !ok || e.version != version {
		return nil, false
	}
	return bytes.Clone(e.value), true // e.value is never nil
}

// put caches a copy of value, the opened value of key at version, unless
// it is too large or a newer version of key is cached.
func (c *valueCache) put(key []byte, version uint64, value []byte) {
	if c == nil || len(value) > valueCacheMaxEntry {
		return
	}
	n := entrySize(len(key), len(value))
	if n > c.limit {
		return
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[string(key)]; ok {
		if old.version > version {
			return
		}
		delete(c.entries, string(key))
		c.size -= entrySize(len(key), len(old.value))
	}
	for k, e := range c.entries {
		if c.size+n <= c.limit {
			break
		}
		delete(c.entries, k)
		c.size -= entrySize(len(k), len(e.value))
	}
	c.entries[string(key)] = cachedValue{version: version, value: v}
	c.size += n
}

// drop empties the cache.
func (c *valueCache) drop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.size = 0
}
