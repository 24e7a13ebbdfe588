//go:build !amd64

package avxstate

func vzeroupper() {}
