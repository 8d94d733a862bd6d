//go:build !linux

package review

func totalMemory() uint64 { return 0 }
