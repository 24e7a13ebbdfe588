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
var Languages = []string{"en", "fr"}

var typeLabels = map[string]map[string]string{
	"en": {"assessment": "assessment", "case_plan": "case plan", "action_plan": "action plan", "closure": "closure"},
	"fr": {"assessment": "l'évaluation", "case_plan": "le plan de prise en charge", "action_plan": "le plan d'action", "closure": "la clôture"},
}

var outcomes = map[string]map[string]string{
	"en": {"approved": "approved", "rejected": "rejected"},
	"fr": {"approved": "approuvé", "rejected": "refusé"},
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
	labels := typeLabels[lang]
	if labels == nil {
		labels = typeLabels["en"]
	}
	out := outcomes[lang]
	if out == nil {
		out = outcomes["en"]
	}
	data := map[string]string{
		"Case": n.CaseNumber, "Actor": n.Actor, "Type": n.Type, "TypeLabel": labels[n.Type], "Outcome": out[n.Outcome], "Kind": n.Kind,
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
		if err := ht.ExecuteTemplate(&b, "page", map[string]any{"Lang": lang, "Subject": subject, "Body": body, "Footer": strings.TrimPrefix(footer, "--\n")}); err != nil {
			return Message{}, fmt.Errorf("notify: html template for %s: %w", lang, err)
		}
		m.HTML = b.String()
	}
	return m, nil
}
