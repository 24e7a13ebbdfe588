package features

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalize returns the comparable form of a name as written: Unicode NFKC,
// lower case, Latin diacritics removed, Arabic-script letter variants folded
// (alef forms, hamza carriers, taa marbuta, alef maqsura, Persian kaf/yeh),
// tatweel and harakat removed, punctuation turned into spaces and runs of
// spaces collapsed. The script is kept: Arabic stays Arabic (see
// Transliterate). Normalize is idempotent and never panics; invalid UTF-8 is
// replaced by spaces.
func Normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
	}
	s = norm.NFKC.String(s)
	s = strings.ToLower(s)
	s = norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppress leading spaces
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == 'ـ' || unicode.Is(unicode.Cf, r) {
			continue // diacritics, harakat, U+0670, tatweel, joiners
		}
		if m, ok := foldRune[r]; ok {
			r = m
			if r == 0 {
				continue
			}
		}
		if expand, ok := expandRune[r]; ok {
			b.WriteString(expand)
			space = false
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
			continue
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	out := strings.TrimRight(b.String(), " ")
	// Stripping marks can leave sequences that recompose differently; one
	// final NFC pass makes the function idempotent.
	return norm.NFC.String(out)
}

// foldRune maps single letters to their folded form (0 drops the rune).
var foldRune = map[rune]rune{
	// Arabic alef forms (after NFD, أ إ آ are already ا plus a mark).
	'ٱ': 'ا', 'أ': 'ا', 'إ': 'ا', 'آ': 'ا',
	// hamza carriers and bare hamza
	'ؤ': 'و', 'ئ': 'ي', 'ء': 0,
	'ة': 'ه', 'ى': 'ي',
	// Persian/Urdu letter forms used for Afghan names
	'ک': 'ك', 'ی': 'ي', 'ې': 'ي', 'ە': 'ه', 'ۀ': 'ه', 'ھ': 'ه',
	// Latin letters without a decomposition
	'ø': 'o', 'ł': 'l', 'đ': 'd', 'ı': 'i', 'ħ': 'h', 'ŧ': 't',
	// apostrophe-like letters used for ayn/hamza in romanisations
	'ʿ': 0, 'ʾ': 0, 'ʼ': 0, 'ʻ': 0, '\'': 0, '`': 0, '’': 0, '‘': 0,
}

var expandRune = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'þ': "th", 'ð': "dh",
}

// isArabicLetter reports whether r is in the Arabic blocks.
func isArabicLetter(r rune) bool {
	return (r >= 0x0600 && r <= 0x06FF) || (r >= 0x0750 && r <= 0x077F) || (r >= 0xFB50 && r <= 0xFDFF) || (r >= 0xFE70 && r <= 0xFEFF)
}

// IsArabic reports whether s contains an Arabic-script letter.
func IsArabic(s string) bool {
	for _, r := range s {
		if isArabicLetter(r) {
			return true
		}
	}
	return false
}

// arabicLetters is the rule table for Arabic-script → Latin transliteration
// aimed at the way names are commonly romanised (not a scholarly scheme):
// emphatic and plain consonants merge (ص/س → s, ط/ت → t, ض/د → d, ظ/ز → z),
// ق → q (canonicalised to k), ع and ء carry no consonant.
var arabicLetters = map[rune]string{
	'ا': "a", 'ب': "b", 'ت': "t", 'ث': "th", 'ج': "j", 'ح': "h", 'خ': "kh",
	'د': "d", 'ذ': "dh", 'ر': "r", 'ز': "z", 'س': "s", 'ش': "sh", 'ص': "s",
	'ض': "d", 'ط': "t", 'ظ': "z", 'ع': "a", 'غ': "gh", 'ف': "f", 'ق': "q",
	'ك': "k", 'ل': "l", 'م': "m", 'ن': "n", 'ه': "h", 'و': "w", 'ي': "y",
	'پ': "p", 'چ': "ch", 'ژ': "zh", 'گ': "g", 'ڤ': "v",
	'٠': "0", '١': "1", '٢': "2", '٣': "3", '٤': "4", '٥': "5", '٦': "6", '٧': "7", '٨': "8", '٩': "9",
}

// Transliterate romanises the Arabic-script words of a normalised string and
// leaves other words alone. Long vowels are read from the letters (و and ي
// inside a word are u and i, at the start w and y; final ه is a), a leading
// ال article is dropped except in الله, and the few very common names whose
// short vowels matter for telling them apart (محمد/محمود, حسن/حسين…) come
// from a small dictionary. The result is lower-case Latin; it is idempotent
// on its own output.
func Transliterate(s string) string {
	s = Normalize(s)
	if !IsArabic(s) {
		return s
	}
	words := strings.Fields(s)
	out := words[:0]
	for _, w := range words {
		if IsArabic(w) {
			w = translitWord(w)
		}
		if w != "" {
			out = append(out, w)
		}
	}
	return Normalize(strings.Join(out, " "))
}

func translitWord(w string) string {
	if c, ok := arabicNames[w]; ok {
		return c
	}
	rs := []rune(w)
	if len(rs) > 3 && rs[0] == 'ا' && rs[1] == 'ل' && w != "الله" {
		rs = rs[2:]
	}
	var b strings.Builder
	for i, r := range rs {
		first, last := i == 0, i == len(rs)-1
		switch {
		case r == 'و' && !first:
			b.WriteString("u")
		case r == 'ي' && !first:
			b.WriteString("i")
		case r == 'ه' && last && i > 0:
			b.WriteString("a")
		case r == 'ع' && !first:
			// medial ayn: usually a vowel in romanisations (Saad, Ismail)
			b.WriteString("a")
		default:
			if t, ok := arabicLetters[r]; ok {
				b.WriteString(t)
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				if r < utf8.RuneSelf {
					b.WriteRune(r)
				}
				// other letters of other scripts inside an Arabic word are dropped
			}
		}
	}
	return b.String()
}

// Canonical returns the spelling-variant key of one Latin (or transliterated)
// name token: vowel and digraph variants are merged (ou/oo → u, ee → i,
// a leading e → i, other e → a, o → u), q/c → k (Somali orthography: c before a vowel at the start
// or between vowels is ayn and dropped, x is ḥ → h), doubled letters
// collapse and a final h after a vowel is dropped, so Mohammed, Muhammad, Mohamed, Mohamad and Muhammed all
// give "muhamad". Known variant spellings (including Somali orthography such
// as Maxamed, Cabdi, Xasan) map to one canonical name.
func Canonical(tok string) string {
	return abdCompound(canonicalRules(translitWord2(Normalize(tok))))
}

var digraphs = strings.NewReplacer("ou", "u", "oo", "u", "ee", "i", "ph", "f", "ck", "k", "dj", "j", "tch", "ch", "ey", "ai", "ay", "ai", "ei", "ai", "aa", "a", "ii", "i", "uu", "u")

func canonicalRules(tok string) string {
	t := []byte(asciiLetters(tok))
	if len(t) == 0 {
		return ""
	}
	s := string(t)
	s = digraphs.Replace(s)
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case 'e':
			c = 'a'
			if i == 0 {
				c = 'i' // a leading e is a kasra: Eman, Edris, Ebrahim
			}
		case 'o':
			c = 'u'
		case 'q':
			c = 'k'
		case 'c':
			switch {
			case i+1 < len(s) && s[i+1] == 'h':
				c = 'c'
			case i+1 < len(s) && isVowel(s[i+1]) && (i == 0 || isVowel(s[i-1])):
				// Somali orthography: c is ayn (Cabdi, Cali, Saciid)
				continue
			default:
				c = 'k'
			}
		case 'x':
			c = 'h' // Somali orthography: x is ḥ (Xasan, Maxamed)
		case 'y':
			// y between consonants or at the end is a vowel
			if i > 0 && (i+1 == len(s) || !isVowel(s[i+1])) {
				c = 'i'
			}
		}
		if len(b) > 0 && b[len(b)-1] == c {
			continue
		}
		b = append(b, c)
	}
	// final "ah"/"ih"/"uh" → vowel (Fatimah, Abdullah)
	if n := len(b); n > 2 && b[n-1] == 'h' && isVowel(b[n-2]) {
		b = b[:n-1]
	}
	return string(b)
}

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}

// asciiLetters keeps the ASCII letters and digits of a normalised token.
func asciiLetters(tok string) string {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteByte(c)
		} else if c >= 'A' && c <= 'Z' {
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// Skeleton returns the phonetic key of a canonical token: a leading vowel
// (or ayn) becomes "a", the digraphs kh, sh, th, dh, gh, zh become one
// consonant class each (ch is sh's: the francophone spelling of ش, as in
// Aicha and Rachid), later vowels and the semi-vowels w and y are dropped
// and repeats collapse. Arabic script, which writes no short vowels, and its
// Latin romanisations meet on this key: محمد and Mohammed are both "mhmd".
func Skeleton(canonical string) string {
	s := canonical
	if s == "" {
		return ""
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i+1 < len(s) && s[i+1] == 'h' {
			switch c {
			case 'k':
				c, i = 'x', i+1
			case 's':
				c, i = 'S', i+1
			case 'c': // sh in francophone spellings: Aicha, Rachid, Hicham
				c, i = 'S', i+1
			case 't':
				c, i = 't', i+1
			case 'd':
				c, i = 'd', i+1
			case 'g':
				c, i = 'g', i+1
			case 'z':
				c, i = 'j', i+1
			}
		}
		if len(b) == 0 {
			if isVowel(c) {
				c = 'a'
			}
		} else if isVowel(c) || c == 'w' || c == 'y' {
			continue
		}
		if len(b) > 0 && b[len(b)-1] == c {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// Token is one processed name part.
type Token struct {
	Raw       string // normalised form as written (any script)
	Canonical string // Latin spelling-variant key
	Skeleton  string // phonetic consonant key
	Arabic    bool   // written in Arabic script
	// Spelling is the rules key before the variant table and the abd
	// compound key, when they changed it ("" otherwise): Faadumo is
	// Canonical fatima but Spelling fadumu, which its typo Faduao is
	// close to.
	Spelling string
}

// RulesKey returns the token's rules key: Spelling, or Canonical when the
// variant table did not change it.
func (t Token) RulesKey() string {
	if t.Spelling != "" {
		return t.Spelling
	}
	return t.Canonical
}

// articles are separate tokens dropped from names ("al-Hassan", "ar-Rashid").
var articles = map[string]bool{
	"al": true, "el": true, "ul": true, "ar": true, "as": true, "ad": true,
	"at": true, "an": true, "az": true, "ash": true, "ed": true, "ال": true,
}

// abdPrefixes are canonical words that start an abd+name compound when
// written apart (Abd al-Rahman, Abdul Karim, Abdel Aziz, عبد الله).
var abdPrefixes = map[string]bool{"abd": true, "abdul": true, "abdal": true, "abdu": true}

// divineNames are the canonical forms of the names of God that follow
// "Abdu" in a compound written apart (Abdu Rahman, Abdou Karim). Abdu alone
// is also a nickname (Abdo, of Abdullah or Abdulrahman), so Abdo Ali is two
// names, not a compound.
var divineNames = func() map[string]bool {
	m := make(map[string]bool)
	// one spelling each: the rules merge the others (Kareem, Qadir,
	// Jabbar); Qader keeps its e → a
	for _, n := range []string{"rahman", "rahim", "karim", "aziz", "allah", "kadir", "latif", "majid",
		"hamid", "malik", "wahab", "razak", "salam", "jabar", "ghafar", "hadi", "halim", "basit", "nasir",
		"samad", "wahid", "hakim", "rauf", "manan", "jalil", "ghani", "hafiz", "kabir", "wadud", "mutalib",
		"nur", "qader"} {
		m[canonicalRules(n)] = true
	}
	return m
}()

// joinsAbd reports whether prefix and next (canonical rules output of an
// abd word and of the word after it, an article skipped) form one compound
// name.
func joinsAbd(prefix, next string, article, arabic bool) bool {
	return prefix != "abdu" || article || arabic || divineNames[next]
}

// Tokens splits a full name into processed tokens. Articles written as
// separate words are dropped, and abd compounds are joined into one token
// keyed without the article or linking vowel: Abdul Rahman, Abd al-Rahman,
// Abdurrahman, Abdirahman and عبد الرحمن all give "abdrahman".
func Tokens(name string) []Token {
	words := strings.Fields(Normalize(name))
	out := make([]Token, 0, len(words))
	for i := 0; i < len(words); i++ {
		w := words[i]
		if articles[w] {
			continue
		}
		arabic := IsArabic(w)
		c := canonicalRules(translitWord2(w))
		if i+1 < len(words) && abdPrefixes[c] {
			j := i + 1
			article := articles[words[j]] && j+1 < len(words)
			if article {
				j++
			}
			rest := canonicalRules(translitWord2(words[j]))
			joinedArabic := arabic || IsArabic(words[j])
			if !joinsAbd(c, rest, article, joinedArabic) {
				out = append(out, makeToken(w, c, arabic))
				continue
			}
			out = append(out, makeToken(w+" "+words[j], "abd"+stripArticle(rest), joinedArabic))
			i = j
			continue
		}
		if c == "" {
			continue
		}
		out = append(out, makeToken(w, c, arabic))
	}
	return out
}

func translitWord2(w string) string {
	if IsArabic(w) {
		return translitWord(w)
	}
	return w
}

func stripArticle(s string) string {
	if (strings.HasPrefix(s, "al") || strings.HasPrefix(s, "ul")) && len(s) > 4 {
		return s[2:]
	}
	return s
}

// abdCompound canonicalises an abd+name compound given as canonical rules
// output: the linking vowel and article after "abd" go (abdul-, abdal-,
// abdi-, abdu-), so the key is "abd" + the canonical second name. Tokens not
// starting with abd go through Canonical.
func abdCompound(c string) string {
	if !strings.HasPrefix(c, "abd") || len(c) < 5 {
		return canonicalLookup(c)
	}
	rest := c[3:]
	if len(rest) > 0 && (rest[0] == 'a' || rest[0] == 'i' || rest[0] == 'u') {
		rest = rest[1:]
		if len(rest) > 0 && rest[0] == 'l' {
			rest = rest[1:]
		}
	}
	if rest == "" {
		return canonicalLookup(c)
	}
	return "abd" + canonicalLookup(rest)
}

func canonicalLookup(k string) string {
	if c, ok := variantIndex[k]; ok {
		return c
	}
	return k
}

// makeToken builds a token from its rules spelling (canonicalRules output).
func makeToken(raw, spelling string, arabic bool) Token {
	can := abdCompound(spelling)
	t := Token{Raw: raw, Canonical: can, Skeleton: Skeleton(can), Arabic: arabic}
	if spelling != can {
		t.Spelling = spelling
	}
	return t
}

// Key returns the matching key of a full name: its canonical tokens joined by
// spaces. Names that are spelling, transliteration or script variants of one
// another usually share a key.
func Key(name string) string {
	ts := Tokens(name)
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Canonical
	}
	return strings.Join(parts, " ")
}
