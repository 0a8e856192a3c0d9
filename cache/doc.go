// Package cache holds an in-process loading cache (work in progress).
package cache
