package output

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	docsFile    = "output-format.md"
	tablesBegin = "<!-- The key tables below are made from internal/output/schema.go: go test ./internal/output -run TestKeyTables -update -->\n"
	tablesEnd   = "<!-- End of the key tables made from the schema. -->\n"
)

// The key tables of docs/output-format.md are the schema's: a key added,
// changed or documented differently fails this test until the document
// is made again (-update).
func TestKeyTables(t *testing.T) {
	path := filepath.Join("..", "..", "docs", docsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, tablesBegin)
	end := strings.Index(doc, tablesEnd)
	if start < 0 || end < start {
		t.Fatalf("%s lacks the markers of the key tables:\n%s%s", path, tablesBegin, tablesEnd)
	}
	start += len(tablesBegin)
	want := "\n" + KeyTables()
	if *update {
		doc = doc[:start] + want + doc[end:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := doc[start:end]; got != want {
		t.Errorf("the key tables of %s are not the schema's; make them again with go test ./internal/output -run TestKeyTables -update", path)
	}
}

// Every key says when it is written and what it means.
func TestEveryKeyDocumented(t *testing.T) {
	for kind, fields := range schemas {
		for _, f := range fields {
			if f.when == "" || f.meaning == "" {
				t.Errorf("kind %d key %s: when %q meaning %q", kind, f.text, f.when, f.meaning)
			}
		}
	}
	for kind := 1; kind < len(kindDocs); kind++ {
		if kindDocs[kind] == "" {
			t.Errorf("kind %d has no description", kind)
		}
	}
}
