package exchange

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeStored feeds arbitrary bytes to the decoding of every record
// kind the exchange stores (exchanges, peers, outbox entries) and to what
// reads them: an error, never a panic.
func FuzzDecodeStored(f *testing.F) {
	f.Add([]byte(`{"id":"x","kind":"referral","direction":"incoming","peer":"b","status":"pending","history":[{"status":"pending"}]}`))
	f.Add([]byte(`{"agency":"b","peer_id":"12D3KooW","addrs":["/ip4/127.0.0.1/tcp/1"],"announcements":["AAAA"]}`))
	f.Add([]byte(`{"envelope_id":"e","exchange":"x","kind":"referral","peer":"b","attempts":3,"envelope":"AAAA"}`))
	s := &Service{agency: "a", intake: DefaultIntakeGroup}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec Record
		if unmarshal(b, &rec) == nil {
			_ = s.object(&rec)
			_ = senderOf(&rec)
		}
		var p Peer
		if unmarshal(b, &p) == nil {
			_ = p.DialAddrs()
			_, _ = p.keyByFingerprint("fp")
			_ = latestVersion(p.Announcements)
		}
		var e OutboxEntry
		_ = unmarshal(b, &e)
		var m Message
		if json.Unmarshal(b, &m) == nil {
			_ = checkMetadata(m)
		}
	})
}
