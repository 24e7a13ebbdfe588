package features

import "strings"

// variantSpellings lists, per name, spellings that the canonical rules do not
// already merge: Somali orthography (c = ayn, x = ḥ), Turkish/Persian forms
// and romanisations that differ in consonants. The first entry is the
// canonical spelling.
var variantSpellings = [][]string{
	{"muhammad", "maxamed", "mxamed", "mehmet", "mohd", "mhd", "muhamed"},
	{"ahmad", "axmed", "ahmet"},
	{"abdi", "cabdi"},
	{"abdullahi", "cabdullaahi", "abdulahi"},
	{"abdirahman", "cabdiraxmaan", "abdiraxman"},
	{"hassan", "xasan", "hasan", "hasen"},
	{"hussein", "xuseen", "husayn", "hussain", "husein", "huseyin"},
	{"ali", "cali"},
	{"umar", "cumar", "omer"},
	{"uthman", "cusmaan", "osman", "usman", "othman", "usmaan"},
	{"fatima", "faadumo", "fatuma", "fatoumata"},
	{"hawa", "xaawo", "hawo", "hauwa"},
	{"khadija", "khadiija", "kadija", "hatice", "xadiijo", "khadidja"},
	{"aisha", "caasha", "ayesha", "aysha", "aishah", "ayse"},
	{"yusuf", "yousef", "youssef", "yosef", "yussuf", "yusef", "yousif", "yusif"},
	{"ibrahim", "ebrahim", "ibraahim", "ibrahiim", "ibrahima"},
	{"ismail", "ismaaciil", "ismael", "esmail"},
	{"zaynab", "zainab", "zeinab", "zaineb", "seynab"},
	{"mahmud", "mahmoud", "mehmood", "mahmood", "maxamuud", "mohamud", "mohamoud", "mahamud"},
	{"mustafa", "mostafa", "moustafa", "mustapha", "mustafe"},
	{"jamal", "gamal", "jamaal"},
	{"jamila", "gamila"},
	{"abdulkadir", "abdelkader", "abdulqadir", "cabdulqaadir", "abdikadir"},
	{"khalid", "khaled", "xaalid", "halid"},
	{"saad", "sa'ad", "saed", "saciid", "said", "saeed", "sayid"},
	{"salih", "saleh", "saalax"},
	// Salah (صلاح) is not Salih (صالح); it is also the usual short form of
	// Salah ad-Din
	{"salah", "salaheddine", "salahaddine", "salahuddin", "salahudin", "salaxudiin", "salahedin"},
	{"abbas", "cabaas"},
	{"hamza", "xamza", "hamsa"},
	{"nur", "nour", "noor", "nuur"},
	{"amina", "aamina", "ameena", "emine"},
	{"maryam", "mariam", "maryan", "meryem", "mariyam"},
	{"halima", "xaliima", "halime"},
	{"muna", "mona", "muuna"},
	{"zahra", "zahara", "zehra"},
	{"hafsa", "xafsa"},
	{"hamid", "xaamid", "hamed", "hameed"},
	{"rashid", "rashiid", "rasheed", "raashid"},
	{"sharif", "shariif", "sherif", "shareef"},
	{"qasim", "qaasim", "kasim", "qassem", "kassim", "gaasim"},
	{"jafar", "jaafar", "cafar", "jaffar"},
	{"walid", "waleed", "walied"},
}

// arabicSpellings gives the canonical Latin spelling of common names whose
// Arabic-script form the rule table would leave ambiguous (short vowels that
// tell names apart are not written). محمد and محمود must not merge.
var arabicSpellings = map[string]string{
	"محمد": "muhammad", "محمود": "mahmud", "احمد": "ahmad", "حامد": "hamid",
	"حميد": "humaid", "حسن": "hassan", "حسين": "hussein", "حسان": "hassaan",
	"علي": "ali", "عمر": "umar", "عثمان": "uthman", "فاطمه": "fatima",
	"عايشه": "aisha", "عائشه": "aisha", "خديجه": "khadija", "مريم": "maryam",
	"زينب": "zaynab", "يوسف": "yusuf", "ابراهيم": "ibrahim", "اسماعيل": "ismail",
	"مصطفي": "mustafa", "مصطفى": "mustafa", "سعيد": "saad", "سعد": "saad", "صالح": "salih",
	"خالد": "khalid", "جمال": "jamal", "جميله": "jamila", "امينه": "amina",
	"امنه": "amna", "نور": "nur", "حليمه": "halima", "منى": "muna", "مني": "muna",
	"زهراء": "zahra", "زهرا": "zahra", "حفصه": "hafsa", "رشيد": "rashid",
	"شريف": "sharif", "قاسم": "qasim", "جعفر": "jafar", "وليد": "walid",
	"عيسى": "isa", "عيسي": "isa", "موسى": "musa", "موسي": "musa", "يحيى": "yahya", "يحيي": "yahya",
	"مرتضى": "murtada", "مرتضي": "murtada", "ليلى": "laila", "ليلي": "laila", "سلمى": "salma", "سلمي": "salma",
	"عبد": "abd",
	// further common given names whose rule transliteration loses the
	// vowels that tell them apart
	"عمار": "ammar", "انس": "anas", "ايمن": "ayman", "بسام": "bassam", "بلال": "bilal",
	"فادي": "fadi", "فيصل": "faisal", "فراس": "firas", "حيدر": "haidar", "كرم": "karam",
	"كريم": "karim", "ماجد": "majid", "مروان": "marwan", "نبيل": "nabil", "نزار": "nizar",
	"اسامه": "usama", "رامي": "rami", "سجاد": "sajjad", "صلاح": "salah", "سامي": "sami",
	"سليمان": "suleiman", "طارق": "tariq", "ياسر": "yasir", "زياد": "ziad", "عادل": "adil",
	"ادريس": "idris", "عباس": "abbas", "حمزه": "hamza", "هدي": "huda", "هدى": "huda",
	"رانيا": "rania", "هاله": "hala", "سميره": "samira", "رشا": "rasha", "دينا": "dina",
	"ريم": "reem", "لينا": "lina", "ياسمين": "yasmin", "اسماء": "asma", "ساره": "sara",
	"رقيه": "ruqaya", "اسراء": "israa", "دعاء": "duaa", "حنان": "hanan", "امل": "amal",
	"ايمان": "iman", "هبه": "hiba", "صفاء": "safaa", "مروه": "marwa", "الاء": "alaa",
	"ندى": "nada", "ندي": "nada", "غاده": "ghada", "سهى": "suha", "سهي": "suha", "وداد": "widad",
	"سميه": "sumaya", "عادله": "adila", "كريمه": "karima", "نبيله": "nabila", "جميل": "jamil",
}

// nicknameTable maps a formal name (canonical spelling) to the nicknames and
// diminutives families commonly use for it.
var nicknameTable = map[string][]string{
	"muhammad":  {"hamoudi", "hamudi", "mido", "moha", "mo", "hamouda", "mohd", "muhammadi"},
	"ahmad":     {"hamada", "ahmadi", "hamdi"},
	"mahmud":    {"hamoudi", "mido", "hamouda"},
	"mustafa":   {"mido", "moustafa", "tofa"},
	"fatima":    {"fatma", "tuma", "fati", "fattoum", "fafa"},
	"abdullahi": {"abdo", "abboud", "dullah"},
	"abda":      {"abdo", "abboud", "dullah"},
	"ibrahim":   {"bob", "hima", "brahim", "ibro", "biro"},
	"yusuf":     {"joe", "jojo", "yoyo", "yousi", "yusi"},
	"khadija":   {"khadi", "dija", "kadi"},
	"aisha":     {"eshe", "shusha", "aishu"},
	"maryam":    {"mimi", "maro", "mary"},
	"zaynab":    {"zizi", "zeinaba", "zanoub"},
	"hussein":   {"hassouna", "husni"},
	"hassan":    {"hassouna", "hasanu"},
	"ali":       {"aliyu", "alawi", "lulu"},
	"umar":      {"omi", "omari"},
	"abdullah":  {"abdo", "abboud"},
	"abdrahman": {"abdo", "rahman"},
	"abdkarim":  {"abdo", "karim"},
	"abdkadir":  {"abdo", "kadir"},
	"khalid":    {"khaloud", "kalu"},
	"ismail":    {"smail", "ismo", "mayo"},
	"halima":    {"hali", "lima"},
	"amina":     {"mina", "amuna"},
	"jamila":    {"jamjoum", "mila"},
	"salih":     {"salouh"},
	"hamza":     {"hamzo"},
	"uthman":    {"osmanu", "atu"},
}

var (
	variantIndex = buildVariantIndex()
	nickIndex    = buildNickIndex()
	knownNames   = buildKnown()
	// knownBySkeleton indexes the known names by consonant skeleton.
	knownBySkeleton = buildKnownBySkeleton()
)

func buildKnownBySkeleton() map[string][]string {
	m := make(map[string][]string)
	for c := range knownNames {
		k := Skeleton(c)
		m[k] = append(m[k], c) // order is irrelevant: only looked up as a set
	}
	return m
}

func buildVariantIndex() map[string]string {
	m := make(map[string]string)
	for _, vs := range variantSpellings {
		c := canonicalRules(vs[0])
		for _, v := range vs {
			if k := canonicalRules(v); k != c {
				m[k] = c
			}
		}
	}
	return m
}

// arabicNames maps normalised Arabic-script names to their Latin canonical
// rules output (used by the transliterator before the rule table).
var arabicNames = func() map[string]string {
	m := make(map[string]string, len(arabicSpellings))
	for a, l := range arabicSpellings {
		m[strings.TrimSpace(normalizeArabicKey(a))] = l
	}
	return m
}()

// normalizeArabicKey folds a dictionary key the way Normalize folds input.
func normalizeArabicKey(a string) string { return Normalize(a) }

func buildNickIndex() map[string][]string {
	m := make(map[string][]string)
	for formal, nicks := range nicknameTable {
		f := Canonical(formal)
		for _, n := range nicks {
			k := Canonical(n)
			m[k] = append(m[k], f)
		}
	}
	return m
}

// commonGivenNames are further given names common in the regions CPX
// serves (Arabic-speaking, Somali, Afghan), one spelling each: two distinct
// known names are never taken for spellings of one name (Eman and Ammar,
// Sara and Sahra), while a spelling not in the tables still can be.
var commonGivenNames = []string{
	// male
	"adam", "adan", "adil", "amir", "ammar", "anas", "awil", "ayman", "bashir", "bassam", "bilal", "bile",
	"dahir", "fadi", "faisal", "farah", "farid", "firas", "guled", "gul", "habib", "haidar", "hakim", "hirsi",
	"idris", "ilyas", "jama", "jawad", "kamal", "karam", "karim", "khalil", "liban", "mahad", "majid", "mansur",
	"marwan", "mirwais", "nabil", "najib", "nasir", "nizar", "omid", "osama", "rami", "sajjad", "sami", "shafiq",
	"sharmarke", "shire", "sohrab", "suleiman", "taha", "tariq", "wahid", "wali", "warsame", "yaqub", "yasin",
	"yasir", "zakaria", "ziad", "abdiaziz", "abdikarim", "rahmatullah", "samiullah", "zabihullah",
	// female
	"alaa", "amal", "asma", "ayan", "basma", "dalia", "deeqa", "dina", "duaa", "fartun", "farzana", "freshta",
	"ghada", "gulalai", "habiba", "hadia", "hala", "hanan", "hiba", "hodan", "huda", "idil", "ifrah",
	"ilhan", "iman", "israa", "karima", "ladan", "lina", "lubna", "malalai", "marwa", "mursal", "nabila", "nada",
	"naima", "nasra", "nazanin", "nilofar", "parwana", "pashtana", "rahma", "rania", "rasha", "reem", "roya",
	"ruqaya", "sabah", "safaa", "safiya", "sagal", "sahra", "samira", "sara", "shabana", "shakila", "shirin",
	"sima", "suad", "suha", "sumaya", "tahmina", "ubah", "wafa", "widad", "yasmin", "yusra", "zamzam",
	"zarghona", "zubaida",
}

func buildKnown() map[string]bool {
	m := make(map[string]bool)
	for _, n := range commonGivenNames {
		m[Canonical(n)] = true
	}
	for _, vs := range variantSpellings {
		m[Canonical(vs[0])] = true
	}
	for _, l := range arabicSpellings {
		m[Canonical(l)] = true
	}
	for f := range nicknameTable {
		m[Canonical(f)] = true
	}
	return m
}

// NicknameOf reports whether one canonical token is a nickname of the other
// (or both are nicknames of one formal name).
func NicknameOf(a, b string) bool {
	if a == b {
		return false
	}
	for _, f := range nickIndex[a] {
		if f == b {
			return true
		}
		for _, g := range nickIndex[b] {
			if f == g {
				return true
			}
		}
	}
	for _, f := range nickIndex[b] {
		if f == a {
			return true
		}
	}
	return false
}

// Formal returns the formal names (canonical) a canonical nickname stands for.
func Formal(nick string) []string { return nickIndex[nick] }

// Known reports whether a canonical key is a known given name (the
// variant, nickname and common-name tables).
func Known(canonical string) bool { return knownNames[canonical] }

// SoundsLike returns the known names whose consonant skeleton is sk.
func SoundsLike(sk string) []string { return knownBySkeleton[sk] }
