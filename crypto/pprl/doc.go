// Package pprl encodes tracing data as keyed Bloom filters (cryptographic
// long-term keys, CLKs, after Schnell et al. and clkhash) so that two
// agencies can compare children's records without exchanging names, and
// scores the comparisons.
//
// # Encoding
//
// A Record (RecordEncoder.EncodeRecord, what federated tracing uses) is
// eleven 1024-bit filters, one per group of fields: the given name (first
// name part and nicknames), the second name part, the third and later
// parts (so that a grandfather's name one side leaves out is an absent
// group, not a disagreement), the father's
// name, the mother's name, the other relatives' names (relation unknown;
// each relative is in one group only), sex, age, places (location
// prefixes), the separation month, and the child's lineage (its own
// second and later name parts encoded as a relative's name, compared with
// the other side's father and relatives). A query carries a sought child's
// readings (EncodeReadings): that Record and a second reading of the
// name, rotated for a name of two or more parts (family name written
// first), read as a family name for a one-part name; RecordSet.Match
// takes each case through the reading whose name fits best. Name groups hold bigrams of each
// part's canonical Latin key and of its phonetic skeleton (crypto/features's
// normalisation, so Arabic-script and Latin spellings of a name set the
// same bits). Every token is hashed into k positions by HMAC-SHA256 double
// hashing under a per-field key derived with HKDF-SHA256 from the shared
// secret, the agency-network id and the field name; k per field (RecordK)
// is the field's weight within its group. The three relatives' groups share
// one field key and one balancing permutation, so that a relative of
// unknown relation can be compared with a father or a mother. A group with
// nothing to encode is left all zero, and contributes nothing to a score.
//
// The older Encoder.Encode puts a whole record in one CLK; one Dice score
// over every field cannot tell a sibling (same chain, relatives, place)
// from the child, which is why Records have groups. It is kept for
// comparison in the quality test.
//
// # Hardening
//
// Every non-empty filter is balanced (concatenated with its complement,
// then permuted by a keyed permutation per group, and XOR-folded back to
// 1024 bits) so that every group has the same Hamming weight half way:
// frequency and pattern-mining attacks see no weight signal and no
// popular-name bit patterns (the relatives' groups share one permutation,
// see above). Groups rather than single fields, and the residual risk of a
// peer that holds the keys, are discussed in docs/matching.md (privacy properties and limits).
// Record.UnmarshalBinary refuses filters that are not balanced (an all-ones
// filter would reach every case).
//
// # Comparing and scoring
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
// RecordSet.Match searches the candidates of every reading with several
// independent blocking keys (Model.Blocking: the given-name group with
// Dice ≥ Model.Block, the second name part, the age and date of birth
// with the place; each a Set.Above scan of one group, then the key's
// other conditions), so that a given name replaced, missing or swapped
// with the family name does not lose the child before scoring. It takes
// the Dice coefficients of every case reached per Feature (Compare: each group with the same group, except that
// a father is compared only with a father, a mother only with a mother, and
// a relative of unknown relation with any relative, the best of those) and
// scores them with a Model: a weight per feature and Dice bin, adjusted per
// given-name class (another name, close, the same) for the other features,
// a weight for a rotated reading, and a weight for a candidate bearing the
// sought child's given name by how many of the candidates bear it (the
// peer's own count: a common name is weaker evidence), fitted on
// the synthetic generator as Fellegi–Sunter and then as a conditional logit
// model (FitLabelled, FitChoice), each feature's contribution bounded
// below by Model.Floor, turned into the probability that each
// candidate is the sought child with at most one of them being it
// (Model.Posteriors). The fitted model ships as default_model.json
// (DefaultModel). Adapt shifts its weights per feature and bin by how
// often true pairs fall in each bin on a node's own requests and cases,
// estimated by EM without their answers, against the shares the model
// expects on its training set (Model.M, Model.Shares). Only bands (likely, possible, unlikely: Model.Band)
// should leave a node, never scores: similarity tables allow
// re-identification.
package pprl
