//go:build !linux

package vault

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
