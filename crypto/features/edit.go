package features

// OneEdit reports whether two skeletons of at least three letters are one
// substitution, insertion, deletion or transposition of neighbours apart.
func OneEdit(a, b string) bool {
	if len(a) < 3 || len(b) < 3 || a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	switch len(b) - len(a) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case 1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}

// Deletions returns a skeleton with each of its letters deleted in turn
// (skeletons of 3 letters or more).
func Deletions(sk string) []string {
	if len(sk) < 3 {
		return nil
	}
	out := make([]string, 0, len(sk))
	for i := 0; i < len(sk); i++ {
		out = append(out, sk[:i]+sk[i+1:])
	}
	return out
}
