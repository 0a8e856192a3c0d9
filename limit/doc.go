// Package limit holds in-process rate limiters (work in progress).
package limit
