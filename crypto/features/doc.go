// Package features is what both family-tracing matchers see of a person:
// the local matcher (node/matching) and the federated encodings
// (crypto/pprl) derive every field here, so a pair compared locally and
// across agencies is compared on the same features. It is pure: no
// storage, no network, no clock.
//
// # Person
//
// Person is one child as registered on a case or described on a tracing
// request; Validate checks it before it is indexed, matched or encoded.
//
// # Names
//
// Normalize folds a name as written (NFKC, case, Latin diacritics, Arabic
// letter variants, tatweel and harakat). Tokens splits it into parts and
// gives each a Canonical spelling key (Mohammed, Muhammad, Mohamed,
// Maxamed and محمد → "muhamad") and a Skeleton, a consonant key on which
// Arabic script and its romanisations meet. KnownNear corrects a part one
// typing slip from a known name; Formal gives the names a nickname stands
// for; JaroWinkler, OneEdit and Deletions measure spellings.
//
// # Derived fields
//
// AgeAt gives the age on a day from an age recorded on another day or a
// date of birth; LocationCode writes a location code as compared (upper
// case, without the hyphens of ISO 3166-2 codes and P-codes).
package features
