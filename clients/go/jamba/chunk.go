// Splitting a text stream into chunks that end on UTF-8 character boundaries, for
// AppendToSession (each chunk is a proto string and must be valid UTF-8 on its own).
package jamba

import (
	"errors"
	"io"
	"unicode/utf8"
)

// chunker reads r in pieces of at most max bytes, each ending at a character boundary.
type chunker struct {
	r    io.Reader
	max  int
	buf  []byte
	n    int // bytes buffered
	done bool
}

func newChunker(r io.Reader, max int) *chunker {
	return &chunker{r: r, max: max, buf: make([]byte, max)}
}

// next returns the next chunk (valid until the following call), or io.EOF after the last one.
func (c *chunker) next() ([]byte, error) {
	for !c.done && c.n < c.max {
		m, err := c.r.Read(c.buf[c.n:])
		c.n += m
		if err == io.EOF {
			c.done = true
		} else if err != nil {
			return nil, err
		}
	}
	if c.n == 0 {
		return nil, io.EOF
	}
	cut := c.n
	if !c.done {
		cut = lastBoundary(c.buf[:c.n])
		if cut == 0 {
			return nil, errors.New("jamba: chunk size is smaller than one UTF-8 character")
		}
	}
	out := make([]byte, cut)
	copy(out, c.buf[:cut])
	c.n = copy(c.buf, c.buf[cut:c.n])
	return out, nil
}

// lastBoundary is the length of the longest prefix of b that does not end inside a multi-byte
// character (invalid bytes count as whole characters: the server rejects them either way).
func lastBoundary(b []byte) int {
	// A character is at most utf8.UTFMax bytes, so only the last few bytes can be incomplete.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}
