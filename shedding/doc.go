// Package shedding turns excess work away when a process or a dependency is overloaded (work in progress).
package shedding
