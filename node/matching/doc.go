// Package matching is the family-tracing matcher: it compares a family's
// tracing request with children's cases and says, field by field, why a case
// may be the sought child. It is pure: no storage, no network.
//
// # Names
//
// Names, their normalisation, transliteration and phonetic keys, and the
// derived fields (an age on a day, location codes) come from
// crypto/features, which the federated encodings (crypto/pprl) use too.
// Parts are compared with Jaro–Winkler on the keys, a nickname table and
// the skeleton; full names with the best assignment of parts, so swapped
// and missing parts still agree.
//
// # Model
//
// Compare returns one Comparison per field (names, sex, age with tolerance
// for estimates and at the request's day, location by common code prefix, relatives, lineage — a
// name chain against the other side's father —, separation date and
// place), each with an agreement level. A Fellegi–Sunter Model turns the
// levels into a posterior probability; Fit estimates it by EM on unlabelled
// pairs and FitLabelled from labelled ones. DefaultModel is fitted on the
// synthetic generator in synth; Adapt re-estimates by EM, on a node's own
// unlabelled requests, how often its true pairs show each field level and
// shifts the weights accordingly. Probabilities map to bands: likely ≥ 0.5,
// possible ≥ 0.1, unlikely.
//
// # Index
//
// Index files cases under blocking keys so a request is compared with a few
// hundred cases, not all; it is safe for concurrent Match calls with one
// writer. Match shares probability among look-alike candidates (at most one
// case is the sought child, and with prior 0.75 it is one of the n cases
// reached, each a priori equally likely).
//
// Design notes, quality figures and benchmarks: docs/matching.md.
package matching
