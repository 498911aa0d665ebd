//go:build !linux

package skipreport

import "io"

// goCommandStdout is only available on Linux (/proc, pidfd_getfd).
func goCommandStdout() io.WriteCloser { return nil }

// preventCaching does nothing where goCommandStdout cannot report anyway.
func preventCaching() {}
