package codec

import (
	"fmt"
	"math"

	"github.com/linkedin/goavro/v2"
)

// Limits of one decode. Every payload is checked against them, and against its own length,
// before goavro sees it, so a hostile payload costs at most a few times its size in memory.
const (
	// MaxPayload is the largest wire-format payload decoded (Kafka's default message.max.bytes
	// is about the same); larger payloads are KindOversized. It also bounds any one string or
	// bytes length.
	MaxPayload = 1 << 20
	// MaxBlockCount is the largest item count of one array or map block.
	MaxBlockCount = 1 << 20
	// maxEmptyItems bounds, over a whole payload, the items of arrays and maps whose items may
	// encode in zero bytes (e.g. nulls): for those the bytes left bound nothing.
	maxEmptyItems = 1 << 16
	// maxDepth bounds the nesting of records, arrays, maps and unions (a recursive schema could
	// otherwise nest as deep as the payload is long).
	maxDepth = 64
)

// goavro sizes allocations by the counts and lengths it reads, before reading the items
// (make([]interface{}, 0, blockCount) for arrays, make([]byte, size) for strings and bytes), and
// its limits default to MaxInt32: a 90-byte record claiming 2^31−1 array items asks for 32 GiB
// and the process dies of an unrecoverable out-of-memory error. checkBounds rejects such
// payloads before goavro decodes them; these process-wide limits are the second line of defence
// for any path that reaches goavro unchecked. Encoding is unaffected: no value of ours has a
// block or string anywhere near these limits.
func init() {
	goavro.MaxBlockCount = MaxBlockCount
	goavro.MaxBlockSize = MaxPayload
}

// checkBounds walks an Avro binary body against the writer's schema without allocating. It
// rejects, as a *DecodeError (without schema id and type, which the caller adds), every length
// or block count that the bytes left cannot hold, negative lengths, unknown union branches and
// nesting beyond maxDepth. Bytes after the record are left to the caller.
func checkBounds(n *node, body []byte) error {
	c := boundsChecker{b: body}
	return c.walk(n, 0)
}

type boundsChecker struct {
	b     []byte
	off   int
	empty int // items of zero-width type seen so far
}

func (c *boundsChecker) left() int { return len(c.b) - c.off }

func truncated(format string, args ...any) error {
	return &DecodeError{Kind: KindTruncated, Err: fmt.Errorf(format, args...)}
}

func oversized(format string, args ...any) error {
	return &DecodeError{Kind: KindOversized, Err: fmt.Errorf(format, args...)}
}

// long reads one zig-zag varint (Avro int or long); what and detail name it in an error (two
// parts, so that naming costs nothing while the bytes are fine).
func (c *boundsChecker) long(what, detail string) (int64, error) {
	var v uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if c.off >= len(c.b) {
			return 0, truncated("%s%s at byte %d: the body ends inside a varint", what, detail, c.off)
		}
		x := c.b[c.off]
		c.off++
		v |= uint64(x&0x7f) << shift
		if x&0x80 == 0 {
			return int64(v>>1) ^ -int64(v&1), nil
		}
	}
	return 0, truncated("%s%s at byte %d: varint longer than 10 bytes", what, detail, c.off)
}

func (c *boundsChecker) skip(n int, what string) error {
	if n < 0 || n > c.left() {
		return truncated("%s: %d bytes needed, %d left", what, n, c.left())
	}
	c.off += n
	return nil
}

// length reads and skips a string or bytes value.
func (c *boundsChecker) length(what string) error {
	start := c.off
	l, err := c.long(what, " length")
	if err != nil {
		return err
	}
	switch {
	case l < 0:
		return truncated("%s at byte %d: negative length %d", what, start, l)
	case l > MaxPayload:
		return oversized("%s at byte %d: length %d exceeds %d", what, start, l, MaxPayload)
	}
	return c.skip(int(l), what)
}

func (c *boundsChecker) walk(n *node, depth int) error {
	if depth > maxDepth {
		return oversized("values nested deeper than %d", maxDepth)
	}
	switch n.Type {
	case "null":
		return nil
	case "boolean":
		return c.skip(1, "boolean")
	case "int", "long", "enum":
		_, err := c.long(n.Type, "")
		return err
	case "float":
		return c.skip(4, "float")
	case "double":
		return c.skip(8, "double")
	case "string", "bytes":
		return c.length(n.Type)
	case "fixed":
		if n.Size < 0 || n.Size > c.left() {
			return truncated("fixed %s: %d bytes needed, %d left", n.Name, n.Size, c.left())
		}
		c.off += n.Size
		return nil
	case "record":
		for _, f := range n.Fields {
			if err := c.walk(f.Type, depth+1); err != nil {
				return err
			}
		}
		return nil
	case "union":
		start := c.off
		i, err := c.long("union index", "")
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(n.Branches)) {
			return truncated("union index %d at byte %d: the union has %d branches", i, start, len(n.Branches))
		}
		return c.walk(n.Branches[i], depth+1)
	case "array", "map":
		return c.blocks(n, depth)
	}
	return &DecodeError{Kind: KindTypeMismatch, Err: fmt.Errorf("writer schema has an unsupported type %q", n.Type)}
}

// blocks walks the blocks of an array or map: each block is a count, then (when the count is
// negative) its size in bytes, then its items; a zero count ends the value.
func (c *boundsChecker) blocks(n *node, depth int) error {
	width := minWidth(n.Items, 0)
	if n.Type == "map" {
		width++ // the key's length
	}
	for {
		start := c.off
		count, err := c.long(n.Type, " block count")
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		if count < 0 {
			if count == math.MinInt64 {
				return oversized("%s block count %d at byte %d", n.Type, count, start)
			}
			count = -count
			size, err := c.long(n.Type, " block size")
			if err != nil {
				return err
			}
			if size < 0 || size > int64(c.left()) {
				return truncated("%s block size %d at byte %d: %d bytes left", n.Type, size, start, c.left())
			}
		}
		switch {
		case count > MaxBlockCount:
			return oversized("%s block count %d at byte %d exceeds %d", n.Type, count, start, MaxBlockCount)
		case width > 0 && count > int64(c.left()/width):
			return truncated("%s block count %d at byte %d: items of at least %d bytes, %d bytes left", n.Type, count, start, width, c.left())
		case width == 0:
			if c.empty += int(count); c.empty > maxEmptyItems {
				return oversized("more than %d items of zero-width %s values", maxEmptyItems, n.Items.Type)
			}
		}
		for i := int64(0); i < count; i++ {
			if n.Type == "map" {
				if err := c.length("map key"); err != nil {
					return err
				}
			}
			if err := c.walk(n.Items, depth+1); err != nil {
				return err
			}
		}
	}
}

// minWidth is the fewest bytes a value of n encodes in.
func minWidth(n *node, depth int) int {
	switch n.Type {
	case "null":
		return 0
	case "float":
		return 4
	case "double":
		return 8
	case "fixed":
		return max(n.Size, 0)
	case "record":
		if depth > maxDepth {
			return 0
		}
		w := 0
		for _, f := range n.Fields {
			w += minWidth(f.Type, depth+1)
		}
		return w
	}
	return 1 // boolean, int, long, enum, string, bytes; an array's or map's count; a union's index
}
