// Tests for the UTF-8-boundary chunker used by AppendText and AppendFile.
package jamba

import (
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func chunks(t *testing.T, text string, max int) []string {
	t.Helper()
	c := newChunker(strings.NewReader(text), max)
	var out []string
	for {
		b, err := c.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
}

func TestChunksEndOnCharacterBoundaries(t *testing.T) {
	text := strings.Repeat("héllo wörld — ∑ 𝄞 ", 50)
	for max := 4; max <= 40; max++ {
		got := chunks(t, text, max)
		if strings.Join(got, "") != text {
			t.Fatalf("max %d: chunks do not add up to the text", max)
		}
		for _, c := range got {
			if len(c) == 0 || len(c) > max || !utf8.ValidString(c) {
				t.Fatalf("max %d: bad chunk %q", max, c)
			}
		}
	}
}

func TestEmptyInputHasNoChunks(t *testing.T) {
	if got := chunks(t, "", 16); len(got) != 0 {
		t.Fatalf("got %q", got)
	}
}

func TestChunkSmallerThanACharacterFails(t *testing.T) {
	c := newChunker(strings.NewReader("𝄞𝄞"), 3)
	if _, err := c.next(); err == nil {
		t.Fatal("expected an error")
	}
}
