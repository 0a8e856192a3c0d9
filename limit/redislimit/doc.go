// Package redislimit holds rate limiters shared by a fleet through Redis (work in progress).
package redislimit
