package codec

import (
	"encoding/binary"
	"fmt"
)

// MagicByte opens every Confluent wire-format payload.
const MagicByte = 0

const headerLen = 5

// Frame prefixes an Avro body with the Confluent header for schema id.
func Frame(schemaID int, body []byte) []byte {
	out := make([]byte, headerLen, headerLen+len(body))
	out[0] = MagicByte
	binary.BigEndian.PutUint32(out[1:], uint32(schemaID))
	return append(out, body...)
}

// Unframe splits a Confluent wire-format payload into schema id and Avro body.
func Unframe(data []byte) (int, []byte, error) {
	if len(data) == 0 {
		return 0, nil, &DecodeError{Kind: KindTruncated, Err: fmt.Errorf("empty payload")}
	}
	if data[0] != MagicByte {
		return 0, nil, &DecodeError{Kind: KindBadMagic, Err: fmt.Errorf("first byte is 0x%02x, want 0x00", data[0])}
	}
	if len(data) < headerLen {
		return 0, nil, &DecodeError{Kind: KindTruncated, Err: fmt.Errorf("%d bytes, the header alone needs %d", len(data), headerLen)}
	}
	return int(binary.BigEndian.Uint32(data[1:headerLen])), data[headerLen:], nil
}
