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
// Dice compares two filters. Set holds many with their popcounts, and
// Set.Above, the hot loop of federated matching, returns those whose Dice
// coefficient with a query reaches a threshold: 2|q∧s| ≥ t(|q|+|s|), with t
// in 1/1024. The intersections |q∧s| are counted 256 encodings at a time
// into a stack array (no allocation) by a kernel chosen at run time
// (golang.org/x/sys/cpu): on amd64 with AVX2, Go assembly that keeps the
// query in four YMM registers, ANDs each stored encoding, counts its bits by
// nibble look-up (VPSHUFB, Muła's method) and VPSADBW, and packs four
// encodings into one horizontal sum and one store; elsewhere, or with the
// purego build tag, pure Go. The threshold test stays in Go. DiceMany does
// the same over a []CLK, counting the filters' popcounts with the same
// kernel (hence about half the speed of a Set); Dice counts one pair with
// POPCNTQ on amd64.
//
// On a shared 2-vCPU AMD EPYC (Zen 3), 65 536 encodings (8 MiB, in L3):
// Set.Above about 214 M comparisons/s in a quiet period and 190 in a busy
// one, against 93 and 53 with the pure-Go kernel in the same runs and 84 and
// 40 before the kernel; DiceMany 123 and 97, Dice 54 and 40 (ranges and
// method in docs/matching.md; go test -run '^$' -bench 'Dice|SetAbove'
// -count=6 ./crypto/pprl/). A set much larger than the L3 cache is bounded
// by memory bandwidth instead: about 75 M/s at 2^18 encodings and more.
//
// Only bands (likely, possible, unlikely) should leave a node, never score
// tables: similarity tables allow re-identification.
package pprl
