package matching

import "github.com/cpx-node/cpx/crypto/features"

// The person, its validation and the name features are crypto/features',
// shared with the federated encodings (crypto/pprl): both matchers see
// the same normalisation, transliteration and derived fields.
type (
	// Person is features.Person.
	Person = features.Person
	// Token is features.Token.
	Token = features.Token
	// FieldError is features.FieldError.
	FieldError = features.FieldError
)

// Validation errors (features').
var (
	ErrNoName   = features.ErrNoName
	ErrTooLong  = features.ErrTooLong
	ErrNotUTF8  = features.ErrNotUTF8
	ErrAgeRange = features.ErrAgeRange
	ErrBadDate  = features.ErrBadDate
	ErrFuture   = features.ErrFuture
	ErrBadSex   = features.ErrBadSex
	ErrTooMany  = features.ErrTooMany
)

// Name features and derived fields (features').
var (
	Normalize     = features.Normalize
	Tokens        = features.Tokens
	Canonical     = features.Canonical
	Skeleton      = features.Skeleton
	Key           = features.Key
	Formal        = features.Formal
	NicknameOf    = features.NicknameOf
	KnownNear     = features.KnownNear
	JaroWinkler   = features.JaroWinkler
	IsArabic      = features.IsArabic
	Transliterate = features.Transliterate
	LocationCode  = features.LocationCode
	LocationCodes = features.LocationCodes
	AgeOn         = features.AgeOn
)
