package avxstate

//go:noescape
func vzeroupper()
