package envelope

import "github.com/cpx-node/cpx/crypto/internal/wire"

// formatVersion follows the four-byte tag of each encoding in this package.
const formatVersion = 1

const (
	tagHeader   = 'H'
	tagEnvelope = 'E'
)

// The package's encodings use the shared canonical encoding.
type (
	encoder = wire.Encoder
	decoder = wire.Decoder
)
