// Package pprl encodes tracing data as keyed Bloom filters (cryptographic
// long-term keys, CLKs, after Schnell et al. and clkhash) so that two
// agencies can compare children's records without exchanging names.
//
// # Encoding
//
// A record is one 1024-bit filter. Each field contributes tokens: bigrams of
// the canonical Latin key and of the phonetic skeleton of every name part
// (node/matching's normalisation, so Arabic-script and Latin spellings of a
// name set the same bits), sex, age band, location prefixes and the
// separation month. Every token is hashed into k positions by HMAC-SHA256
// double hashing under a per-field key derived with HKDF-SHA256 from the
// shared secret, the agency-network id and the field name; k per field is
// the field's weight.
//
// # Hardening
//
// Name tokens are salted with a per-record value (by default the origin
// country) so that one name's bit pattern differs across salts, and the
// filter is balanced (concatenated with its complement, then permuted by a
// keyed permutation, and XOR-folded back to 1024 bits) so that every record
// has the same Hamming weight half way: frequency and pattern-mining attacks
// see no popular-name bit patterns and no weight signal. Parameters and
// rationale are in docs/matching.md.
//
// # Comparing
//
// Dice compares two filters with math/bits.OnesCount64; DiceMany is the hot
// loop over a set. Only bands (likely, possible, unlikely) should leave a
// node, never score tables: similarity tables allow re-identification.
package pprl
