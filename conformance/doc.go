// Package conformance is CPX's black-box suite: it builds the real cpx
// binary, drives real node processes in temporary directories (init,
// start, client commands, SIGKILL mid-write) and checks what a user would
// see. Nothing here imports the node's internals except the generated
// local-API client, used where a test needs many calls fast.
//
// Run it with the rest of the tests (`go test ./...`); `-short` skips the
// slowest cases.
package conformance
