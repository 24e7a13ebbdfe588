package synth

// name is a given name in the generator's pools: its usual Latin spelling,
// other Latin spellings seen in registration data, its Arabic-script form
// ("" for names not usually written in Arabic script) and nicknames.
type name struct {
	latin    string
	variants []string
	arabic   string
	nicks    []string
}

// region is a naming tradition: given names by sex and the naming pattern.
type region struct {
	code    string // country code prefix of location codes
	male    []name
	female  []name
	family  []name // family names (Afghan pattern); nil = patronymic chain
	arabics bool   // names have Arabic-script forms
}

func n(latin, arabic string, variants ...string) name {
	return name{latin: latin, arabic: arabic, variants: variants}
}

func nn(latin, arabic string, nicks []string, variants ...string) name {
	return name{latin: latin, arabic: arabic, variants: variants, nicks: nicks}
}

var somali = region{
	code: "SO",
	male: []name{
		nn("Mohamed", "", []string{"Hamoudi", "Moha"}, "Maxamed", "Mohammed", "Mohamad"),
		n("Abdi", "", "Cabdi"), n("Hassan", "", "Xasan", "Hasan"), n("Ali", "", "Cali"),
		nn("Ahmed", "", []string{"Hamada"}, "Axmed", "Ahmad"), n("Abdullahi", "", "Cabdullaahi", "Abdulahi"),
		n("Omar", "", "Cumar", "Umar"), nn("Yusuf", "", []string{"Jojo"}, "Yuusuf", "Yousuf"),
		nn("Ibrahim", "", []string{"Hima"}, "Ibraahim"), n("Ismail", "", "Ismaaciil", "Ismael"),
		n("Abdirahman", "", "Cabdiraxmaan", "Abdulrahman"), n("Mahad", ""), n("Farah", "", "Faarax"),
		n("Warsame", ""), n("Jama", "", "Jaamac"), n("Nur", "", "Nuur"), n("Osman", "", "Cusmaan"),
		n("Said", "", "Saciid", "Saeed"), n("Hussein", "", "Xuseen", "Husein"), n("Abdiaziz", "", "Cabdicasiis"),
		n("Liban", ""), n("Guled", ""), n("Bashir", "", "Bashiir"), n("Dahir", "", "Daahir"),
		n("Aden", "", "Aadan"), n("Hirsi", "", "Xirsi"), n("Muse", "", "Muuse"), n("Yasin", "", "Yaasiin"),
		n("Khalid", "", "Khaalid"), n("Mohamud", "", "Maxamuud", "Mahmoud"), n("Abdikarim", "", "Cabdikariim"),
		n("Bile", ""), n("Shire", ""), n("Awil", "", "Cawil"), n("Sharmarke", ""),
	},
	female: []name{
		nn("Fadumo", "", []string{"Tuma", "Fatma"}, "Faadumo", "Fatuma"), n("Amina", "", "Aamina"),
		n("Hodan", ""), n("Halima", "", "Xaliimo"), n("Sahra", "", "Sahro"), n("Asha", "", "Caasha"),
		n("Ifrah", "", "Ifraax"), n("Khadija", "", "Khadiijo"), n("Hawa", "", "Xaawo"),
		n("Nasra", "", "Nasro"), n("Ubah", "", "Ubax"), n("Sagal", ""), n("Hibo", ""), n("Deeqa", "", "Deka"),
		n("Ayan", "", "Ayaan"), n("Maryan", "", "Maryam"), n("Ilhan", "", "Ilhaan"), n("Fartun", "", "Fartuun"),
		n("Sucad", "", "Suad"), n("Idil", ""), n("Ladan", "", "Ladan"), n("Naima", "", "Nimco"),
		n("Safiya", "", "Saafiya"), n("Zamzam", ""), n("Ruqia", "", "Ruqiya"),
	},
}

var arabicRegion = region{
	code:    "SD",
	arabics: true,
	male: []name{
		nn("Mohammed", "محمد", []string{"Hamoudi", "Mido"}, "Muhammad", "Mohamed", "Mohamad", "Muhammed", "Mohammad"),
		nn("Ahmed", "أحمد", []string{"Hamada"}, "Ahmad", "Ahmet"), nn("Mahmoud", "محمود", []string{"Hamouda"}, "Mahmud", "Mahmood"),
		n("Omar", "عمر", "Umar", "Omer"), n("Ali", "علي", "Aly"), n("Hassan", "حسن", "Hasan"),
		n("Hussein", "حسين", "Husain", "Hussain", "Husein"), n("Khaled", "خالد", "Khalid", "Khaleed"),
		nn("Youssef", "يوسف", []string{"Joe", "Jojo"}, "Yusuf", "Yousef", "Yousif"),
		nn("Ibrahim", "إبراهيم", []string{"Hima"}, "Ebrahim", "Ibraheem"),
		nn("Abdullah", "عبد الله", []string{"Abdo", "Abboud"}, "Abdallah", "Abdulla", "Abd Allah"),
		n("Abdulrahman", "عبد الرحمن", "Abdel Rahman", "Abd al-Rahman", "Abdurrahman"),
		nn("Mustafa", "مصطفى", []string{"Mido"}, "Mostafa", "Moustafa"), n("Tariq", "طارق", "Tarek", "Tareq"),
		n("Bilal", "بلال"), n("Hamza", "حمزة", "Hamzah"), n("Kareem", "كريم", "Karim"), n("Sami", "سامي", "Samy"),
		n("Ziad", "زياد", "Ziyad"), n("Rami", "رامي", "Ramy"), n("Fadi", "فادي", "Fady"), n("Bassam", "بسام", "Basam"),
		n("Nizar", "نزار"), n("Waleed", "وليد", "Walid"), n("Osama", "أسامة", "Usama"), n("Anas", "أنس"),
		n("Majid", "ماجد", "Majed"), n("Adel", "عادل", "Adil"), n("Jamal", "جمال", "Gamal"), n("Salah", "صلاح", "Salaheddine"),
		n("Haider", "حيدر", "Haidar", "Hayder"), n("Abbas", "عباس"), n("Yasser", "ياسر", "Yasir"), n("Firas", "فراس"),
		n("Qasim", "قاسم", "Kassem", "Qassim"), n("Murtada", "مرتضى", "Murtadha", "Mortada"), n("Sajjad", "سجاد", "Sajad"),
		n("Hamid", "حامد", "Hamed"), n("Othman", "عثمان", "Osman", "Uthman"), n("Ammar", "عمار", "Amar"), n("Nabil", "نبيل", "Nabeel"),
		n("Marwan", "مروان"), n("Saad", "سعد", "Sa'ad"), n("Faisal", "فيصل", "Faysal"), n("Ayman", "أيمن", "Aiman"),
		n("Karam", "كرم"), n("Suleiman", "سليمان", "Sulaiman", "Sleiman"), n("Idris", "إدريس", "Idriss"), n("Musa", "موسى", "Mousa"),
	},
	female: []name{
		nn("Fatima", "فاطمة", []string{"Fatma", "Tuma", "Fattoum"}, "Fatimah", "Fatema"), nn("Aisha", "عائشة", []string{"Shusha"}, "Aysha", "Aicha"),
		nn("Maryam", "مريم", []string{"Mimi"}, "Mariam", "Meryem"), n("Zainab", "زينب", "Zaynab", "Zeinab"),
		n("Khadija", "خديجة", "Khadijah", "Khadeeja"), n("Amina", "أمينة", "Ameena", "Aminah"), n("Nour", "نور", "Noor", "Nur"),
		n("Huda", "هدى", "Hoda"), n("Layla", "ليلى", "Laila", "Leila"), n("Rania", "رانيا", "Ranya"), n("Hala", "هالة"),
		n("Samira", "سميرة", "Sameera"), n("Rasha", "رشا"), n("Dina", "دينا", "Deena"), n("Reem", "ريم", "Rim"),
		n("Lina", "لينا", "Leena"), n("Yasmin", "ياسمين", "Yasmine", "Jasmin"), n("Salma", "سلمى", "Selma"),
		n("Asmaa", "أسماء", "Asma"), n("Sara", "سارة", "Sarah"), n("Ruqaya", "رقية", "Ruqayya", "Rokaya"),
		n("Zahraa", "زهراء", "Zahra"), n("Israa", "إسراء", "Isra"), n("Duaa", "دعاء", "Doaa", "Dua"),
		n("Hanan", "حنان"), n("Amal", "أمل"), n("Iman", "إيمان", "Eman"), n("Hiba", "هبة", "Heba"),
		n("Safaa", "صفاء", "Safa"), n("Marwa", "مروة", "Marwah"), n("Alaa", "آلاء", "Ala"), n("Nada", "ندى"),
		n("Ghada", "غادة"), n("Suha", "سهى"), n("Widad", "وداد"), n("Sumaya", "سمية", "Sumayyah", "Somaya"),
	},
}

var afghan = region{
	code: "AF",
	male: []name{
		n("Ahmad", "", "Ahmed"), n("Mohammad", "", "Muhammad", "Mohamad"), n("Gul", ""), n("Abdul Rahim", "", "Abdurrahim", "Abdulrahim"),
		n("Rahmatullah", "", "Rahmatulla"), n("Naseer", "", "Nasir", "Naser"), n("Wali", ""), n("Jawad", "", "Javad"),
		n("Farid", "", "Fareed"), n("Hamid", "", "Hameed"), n("Karim", "", "Kareem"), n("Noor", "", "Nur"),
		n("Zabihullah", "", "Zabiullah"), n("Mirwais", "", "Mirways"), n("Sohrab", ""), n("Shafiq", "", "Shafik"),
		n("Habib", "", "Habeeb"), n("Rashid", "", "Rasheed"), n("Samiullah", "", "Samiulla"), n("Idris", "", "Edris"),
		n("Bashir", "", "Basheer"), n("Khalil", "", "Khaleel"), n("Najib", "", "Najeeb"), n("Omid", "", "Umid"),
	},
	female: []name{
		n("Fatima", "", "Fatema"), n("Zahra", "", "Zohra"), n("Maryam", "", "Mariam"), n("Shabana", ""),
		n("Parwana", "", "Parvana"), n("Nazanin", "", "Nazaneen"), n("Farzana", ""), n("Gulalai", "", "Gulalay"),
		n("Malalai", "", "Malalay"), n("Roya", ""), n("Sima", "", "Seema"), n("Hadia", "", "Hadiya"),
		n("Laila", "", "Layla"), n("Mursal", ""), n("Nilofar", "", "Nilufar"), n("Shakila", "", "Shakeela"),
		n("Tahmina", "", "Tahmeena"), n("Zarghona", "", "Zarghuna"), n("Freshta", "", "Fereshta"), n("Pashtana", ""),
	},
	family: []name{
		n("Karimi", ""), n("Ahmadzai", "", "Ahmadzay"), n("Popal", ""), n("Stanekzai", "", "Stanikzai"), n("Rahimi", "", "Raheemi"),
		n("Hashimi", "", "Hashemi"), n("Noori", "", "Nuri"), n("Sadat", "", "Saadat"), n("Wardak", ""), n("Safi", ""),
		n("Amiri", "", "Ameeri"), n("Haidari", "", "Haideri"), n("Mohammadi", "", "Muhammadi"), n("Rasuli", "", "Rasooli"),
		n("Yusufzai", "", "Yousafzai"), n("Nazari", ""), n("Azizi", "", "Azizy"), n("Jalali", ""), n("Samadi", ""), n("Qaderi", "", "Kaderi"),
		n("Sultani", ""), n("Faizi", "", "Faezi"), n("Habibi", ""), n("Sharifi", "", "Shareefi"), n("Zahir", "", "Zaheer"),
	},
}
