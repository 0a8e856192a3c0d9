package rediscache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/redis/go-redis/v9"
)

// User is a row of the database behind the cache.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// users stands for the database.
var users = map[string]User{"42": {ID: "42", Name: "Ada Lovelace"}}

// loadUser is the loader: the query the cache saves. It reports a missing
// row with rediscache.ErrNotFound, which the cache remembers for a while.
func loadUser(ctx context.Context, id string) (User, error) {
	u, ok := users[id] // SELECT id, name FROM users WHERE id = ?
	if !ok {
		return User{}, rediscache.ErrNotFound
	}
	return u, nil
}

// A cache-aside lookup in front of a database, shared by every instance
// of a service: each user is loaded once per instance at a time, and once
// in the fleet with the lease; missing users are remembered; while Redis
// is down, the loader answers instead.
func ExampleCache_Take() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{os.Getenv("LEVEE_REDIS_ADDR")}, // "": localhost:6379
		ContextTimeoutEnabled: true,                                    // a stalled Redis cannot hold a call
	})
	defer rdb.Close()

	cache, err := rediscache.New[User](rdb,
		rediscache.WithPrefix("example:user:"),
		rediscache.WithTTL(10*time.Minute),
		rediscache.WithLease(time.Second, 500*time.Millisecond),
		rediscache.WithRedisErrorPolicy(rediscache.LoadOnError))
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	ctx := context.Background()
	for i := 0; i < 2; i++ {
		u, err := cache.Take(ctx, "42", loadUser)
		fmt.Println(u.Name, err)
	}
	_, err = cache.Take(ctx, "7", loadUser)
	fmt.Println(errors.Is(err, rediscache.ErrNotFound))
	// Output:
	// Ada Lovelace <nil>
	// Ada Lovelace <nil>
	// true
}

// When Redis cannot be reached, FailFast (the default) keeps the database
// out of it and returns an error; LoadOnError goes to the loader. Either
// way the hook hears of the outage once.
func ExampleWithRedisErrorPolicy() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialerRetries: 1, DialerRetryTimeout: time.Millisecond}) // nothing there
	defer rdb.Close()

	for _, policy := range []rediscache.RedisErrorPolicy{rediscache.FailFast, rediscache.LoadOnError} {
		cache, err := rediscache.New[User](rdb, rediscache.WithRedisErrorPolicy(policy),
			rediscache.WithEventHook(func(e rediscache.Event) { fmt.Println("event:", e.Kind) }))
		if err != nil {
			panic(err)
		}
		u, err := cache.Take(context.Background(), "42", loadUser)
		fmt.Printf("%v: %q, unavailable: %v\n", policy, u.Name, errors.Is(err, rediscache.ErrUnavailable))
		cache.Close()
	}
	// Output:
	// event: RedisDown
	// FailFast: "", unavailable: true
	// event: RedisDown
	// LoadOnError: "Ada Lovelace", unavailable: false
}

// rawCodec stores []byte values as they are: a Codec of one's own (msgpack
// or protobuf plug in the same way).
type rawCodec struct{}

func (rawCodec) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }

// Decode copies: data is only valid during the call.
func (rawCodec) Decode(data []byte) ([]byte, error) { return append([]byte(nil), data...), nil }

func ExampleWithCodec() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	cache, err := rediscache.New[[]byte](rdb, rediscache.WithCodec[[]byte](rawCodec{}))
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	// The codec must encode the cache's value type.
	_, err = rediscache.New[User](rdb, rediscache.WithCodec[[]byte](rawCodec{}))
	fmt.Println(err)
	// Output:
	// rediscache: codec rediscache_test.rawCodec does not encode the cache's value type rediscache_test.User
}
