// Package exchange carries referrals and transfers between agency nodes:
// the peers a node knows, the ISPs in force, the agency's own keys, the
// outbox and inbox, and the workflow of each exchange.
//
// # Sending
//
// Refer and Transfer authorise the user on the case, evaluate the ISPs in
// force for the purpose and recipient (consent, conditions, projection),
// seal the projection in an envelope (crypto/envelope) to the recipient's
// announced key, and write the exchange record, the outbox entry and an
// audit entry in one transaction. A deliverer (Run) sends outbox entries
// until the peer returns a signed receipt, retrying with backoff for as long
// as the envelope is valid.
//
// # Peers and their addresses
//
// A peer is dialled at every address known for it: those it announced
// itself (PeerAnnounced, fed by the transport with the peer's signed
// record, and only ever about the node that signed and sent it), then
// those an administrator gave. Run greets every peer on start, so a node
// that moved tells its partners; a new connection (PeerConnected), a
// successful greeting and RetryOutbox make the peer's envelopes due now.
//
// # Receiving
//
// Deliver (the peer API) checks, in order: the sender's node is a known
// peer of the header's sender agency; the envelope was not seen before (a
// replay gets the first receipt back, nothing else happens); the keys; the
// signatures, recipient, expiry and decryption (crypto/envelope); the ISP
// named in the header is in force here at that version or a newer one (an
// exchange continues under a renewal of the ISP it started under, checked
// by continuing on both sides); the payload's fields stay within the
// projection of the version in force here. Anything else is refused with a
// specific error and an audit entry, and leaves no other state.
//
// # States
//
// A referral is pending → delivered → accepted | rejected → done, or
// revoked by the sender. A transfer is pending → delivered → accepted |
// rejected; on acceptance the receiver holds the case and the sender
// applies the ISP's retention rule.
package exchange
