// Package zxcvbnmatch is the matching step of github.com/trustelem/zxcvbn
// v1.0.1 (the Go port of Dropbox's zxcvbn: dictionary, l33t, spatial,
// repeat, sequence, regular-expression and date matches of a password),
// copied under its MIT licence (LICENSE.txt) with one change: the ranked
// dictionaries and keyboard graphs are built at the first match instead
// of at package initialisation, which every cpx command paid (about
// 30 ms of CPU and 10 MB of heap kept for the life of a node) although
// only a new passphrase is ever measured. Scoring and the frequency
// lists are the upstream packages'. The upstream tests compare results
// with zxcvbn's (crypto/keyring's TestStrengthMatchesUpstream).
package zxcvbnmatch
