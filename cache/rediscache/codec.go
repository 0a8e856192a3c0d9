package rediscache

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Codec turns values of type V into bytes for Redis and back. Plug in
// msgpack, protobuf or anything else by implementing it; this module
// imports none of them. A Codec must be safe for concurrent use.
type Codec[V any] interface {
	// Append appends the encoding of v to dst and returns the extended
	// slice, like strconv.AppendInt; appending lets the cache reuse its
	// buffers instead of allocating one per write.
	Append(dst []byte, v V) ([]byte, error)
	// Decode decodes data into a value. data is only valid during the
	// call: Decode must neither modify nor keep it (copy what must
	// outlive the call).
	Decode(data []byte) (V, error)
}

// JSON is the default [Codec]: encoding/json, with HTML characters escaped
// as json.Marshal does. The zero value is ready to use.
type JSON[V any] struct{}

// jsonEncoder is a json.Encoder bound to its own buffer, pooled so that an
// encode allocates nothing once warm (json.Marshal allocates its result).
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := new(jsonEncoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// maxPooledBuffer bounds the buffers kept for reuse, so one huge value does
// not pin its memory for good.
const maxPooledBuffer = 64 << 10

// Append appends the JSON encoding of v to dst.
func (JSON[V]) Append(dst []byte, v V) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err == nil {
		b := e.buf.Bytes()
		dst = append(dst, b[:len(b)-1]...) // Encode ends with a newline
	}
	if e.buf.Cap() <= maxPooledBuffer {
		jsonEncoders.Put(e)
	}
	return dst, err
}

// Decode decodes JSON data into a value of type V.
func (JSON[V]) Decode(data []byte) (V, error) {
	var v V
	err := json.Unmarshal(data, &v)
	return v, err
}
