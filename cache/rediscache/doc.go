// Package rediscache holds a cache-aside layer over Redis (work in progress).
package rediscache
