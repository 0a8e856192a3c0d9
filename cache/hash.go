package cache

import (
	"hash/maphash"
	"reflect"
	"unsafe"
)

// hasherFor returns a function that spreads keys of type K over shards, or
// nil when K is a type it cannot hash without allocating (floats, whose
// equal values +0 and -0 differ in bits; interfaces; structs and arrays
// holding those, strings or padding): such a cache keeps a single shard. The hash only picks a shard; the
// shard's own map does the real lookup.
func hasherFor[K comparable]() func(K) uint64 {
	t := reflect.TypeOf((*K)(nil)).Elem()
	switch t.Kind() {
	case reflect.String:
		seed := maphash.MakeSeed()
		return func(k K) uint64 {
			// K's underlying type is string: same layout.
			return maphash.String(seed, *(*string)(unsafe.Pointer(&k)))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Uintptr, reflect.Bool, reflect.Pointer, reflect.UnsafePointer, reflect.Chan:
		switch t.Size() {
		case 8:
			return func(k K) uint64 { return mix(*(*uint64)(unsafe.Pointer(&k))) }
		case 4:
			return func(k K) uint64 { return mix(uint64(*(*uint32)(unsafe.Pointer(&k)))) }
		case 2:
			return func(k K) uint64 { return mix(uint64(*(*uint16)(unsafe.Pointer(&k)))) }
		case 1:
			return func(k K) uint64 { return mix(uint64(*(*uint8)(unsafe.Pointer(&k)))) }
		}
	}
	if plain(t) {
		// Structs and arrays of integers, booleans and pointers without
		// padding: equal keys have equal bytes.
		seed := maphash.MakeSeed()
		size := int(t.Size())
		return func(k K) uint64 {
			return maphash.Bytes(seed, unsafe.Slice((*byte)(unsafe.Pointer(&k)), size))
		}
	}
	return nil
}

// plain reports whether values of t are equal exactly when their bytes
// are: integers, booleans, pointers and channels, and structs and arrays
// of those with no padding between or after the fields.
func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Uintptr, reflect.Bool, reflect.Pointer, reflect.UnsafePointer, reflect.Chan:
		return true
	case reflect.Array:
		return plain(t.Elem())
	case reflect.Struct:
		var size uintptr
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Name == "_" || f.Offset != size || !plain(f.Type) {
				return false
			}
			size += f.Type.Size()
		}
		return size == t.Size() && t.Size() > 0
	}
	return false
}

// mix is the finaliser of SplitMix64: every input bit moves every output
// bit, so consecutive integers land on unrelated shards.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
