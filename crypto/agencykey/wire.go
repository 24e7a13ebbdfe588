package agencykey

import "github.com/cpx-node/cpx/crypto/internal/wire"

// formatVersion is the version byte that follows the four-byte tag of
// every encoding in this package. See the package documentation.
const formatVersion = 1

// Tags (the fourth byte after "CPX") of the encodings in this package.
const (
	tagPublic       = 'P'
	tagPrivate      = 'S'
	tagSignature    = 'G'
	tagAnnouncement = 'A'
)

// The package's encodings use the shared canonical encoding.
type (
	encoder = wire.Encoder
	decoder = wire.Decoder
)
