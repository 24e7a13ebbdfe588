package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"

	"github.com/cpx-node/cpx/node/casework"
)

//go:embed templates
var builtin embed.FS

// Languages the built-in templates are written in.
var Languages = []string{"ar", "en", "fr"}

// rtl are the languages written right to left: their HTML is marked
// dir="rtl".
var rtl = map[string]bool{"ar": true, "fa": true, "he": true, "ur": true, "ps": true}

// labels are the words templates use for values of a notice, per language.
var labels = map[string]map[string]string{
	"en": {
		"assessment": "assessment", "case_plan": "case plan", "action_plan": "action plan", "closure": "closure",
		"approved": "approved", "rejected": "rejected", "accepted": "accepted", "done": "completed",
		"referral": "referral", "transfer": "transfer", "followup": "follow-up", "service": "service",
	},
	"fr": {
		"assessment": "l'évaluation", "case_plan": "le plan de prise en charge", "action_plan": "le plan d'action", "closure": "la clôture",
		"approved": "approuvé", "rejected": "refusé", "accepted": "accepté", "done": "terminé",
		"referral": "référencement", "transfer": "transfert", "followup": "suivi", "service": "service",
	},
	"ar": {
		"assessment": "التقييم", "case_plan": "خطة الحالة", "action_plan": "خطة العمل", "closure": "إغلاق الحالة",
		"approved": "تمت الموافقة", "rejected": "تم الرفض", "accepted": "تم القبول", "done": "اكتملت",
		"referral": "الإحالة", "transfer": "النقل", "followup": "المتابعة", "service": "الخدمة",
	},
}

// label is the word for v in lang, or v itself.
func label(lang, v string) string {
	if l, ok := labels[lang][v]; ok {
		return l
	}
	if l, ok := labels["en"][v]; ok {
		return l
	}
	return v
}

// Templates renders notices into messages. It holds, per language, a text
// template set and an HTML page template.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the built-in templates and, if dir is not empty,
// the agency's overrides from it (files LANG.txt.tmpl and LANG.html.tmpl;
// a language may be added this way). A template that does not parse is an
// error naming the file.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	sub, _ := fs.Sub(builtin, "templates")
	if err := t.load(sub, "built-in "); err != nil {
		return nil, err
	}
	if dir != "" {
		if _, err := os.Stat(dir); err == nil {
			if err := t.load(os.DirFS(dir), dir+string(filepath.Separator)); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func (t *Templates) load(fsys fs.FS, where string) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(name, ".txt.tmpl"):
			lang := strings.TrimSuffix(name, ".txt.tmpl")
			tt, err := texttemplate.New(name).Option("missingkey=error").Parse(string(b))
			if err != nil {
				return fmt.Errorf("notify: template %s%s: %w", where, name, err)
			}
			t.text[lang] = tt
		case strings.HasSuffix(name, ".html.tmpl"):
			lang := strings.TrimSuffix(name, ".html.tmpl")
			ht, err := htmltemplate.New(name).Parse(string(b))
			if err != nil {
				return fmt.Errorf("notify: template %s%s: %w", where, name, err)
			}
			t.html[lang] = ht
		}
	}
	return nil
}

// Render returns the message for notice n in language lang (English when
// the language has no templates).
func (t *Templates) Render(n casework.Notice, lang string) (Message, error) {
	if t.text[lang] == nil {
		lang = "en"
	}
	dir := "ltr"
	if rtl[lang] {
		dir = "rtl"
	}
	data := map[string]any{
		"Case": n.CaseNumber, "Actor": n.Actor, "Type": n.Type, "TypeLabel": label(lang, n.Type),
		"Outcome": label(lang, n.Outcome), "Kind": n.Kind, "Exchange": n.Exchange, "Digest": digestData(lang, n.Digest),
	}
	exec := func(name string) (string, error) {
		var b bytes.Buffer
		if err := t.text[lang].ExecuteTemplate(&b, name, data); err != nil {
			return "", fmt.Errorf("notify: template %s for %s: %w", name, lang, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	subject, err := exec(n.Kind + ".subject")
	if err != nil {
		return Message{}, err
	}
	body, err := exec(n.Kind)
	if err != nil {
		return Message{}, err
	}
	footer, err := exec("footer")
	if err != nil {
		return Message{}, err
	}
	m := Message{Subject: subject, Text: body + "\n\n" + footer + "\n", Language: lang, MessageID: n.ID + "@cpx"}
	if ht := t.html[lang]; ht != nil {
		var b bytes.Buffer
		if err := ht.ExecuteTemplate(&b, "page", map[string]any{"Lang": lang, "Dir": dir, "Subject": subject, "Body": body, "Footer": strings.TrimPrefix(footer, "--\n")}); err != nil {
			return Message{}, fmt.Errorf("notify: html template for %s: %w", lang, err)
		}
		m.HTML = b.String()
	}
	return m, nil
}

// digestItem is a digest's task as templates see it.
type digestItem struct {
	Case, Kind, Due string
	Late, In        int // days late; days until due
}

func digestData(lang string, d *casework.Digest) map[string]any {
	if d == nil {
		return map[string]any{"Date": "", "Overdue": 0, "Upcoming": 0, "Items": []digestItem(nil), "More": 0}
	}
	items := make([]digestItem, len(d.Items))
	for i, it := range d.Items {
		items[i] = digestItem{Case: it.CaseNumber, Kind: label(lang, it.Kind), Due: it.Due, Late: max(it.DaysLate, 0), In: max(-it.DaysLate, 0)}
	}
	return map[string]any{"Date": d.Date, "Overdue": d.Overdue, "Upcoming": d.Upcoming, "Items": items,
		"More": d.Overdue + d.Upcoming - len(items)}
}
