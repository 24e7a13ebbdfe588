// Package avxstate clears the upper halves of the AVX registers after code
// that leaves them dirty.
//
// circl's AVX2 assembly (ML-DSA's NTT and packing, the four-way
// Keccak-f[1600] that ML-DSA and ML-KEM sample with) returns without
// VZEROUPPER. Until something clears them, every legacy-encoded SSE
// instruction on that thread pays a state-transition penalty, and Go's
// SHA-256 (SHA-NI) and AES-GCM are made of such instructions: on the
// machines CPX is measured on, a SHA-256 of 6 KB after an ML-DSA
// verification took 330 µs instead of 3 µs (BenchmarkAfterMLDSA). Callers
// of circl call Clear when it returns.
package avxstate

import "golang.org/x/sys/cpu"

// hasAVX is whether VZEROUPPER exists on this CPU.
var hasAVX = cpu.X86.HasAVX

// Clear zeroes the upper halves of the AVX registers of the current
// thread, where the CPU has them; elsewhere it does nothing.
func Clear() {
	if hasAVX {
		vzeroupper()
	}
}
