package skipreport

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// goCommandStdout returns the standard output of the go command that started this test binary,
// or nil when the parent is something else (a shell running the binary directly already sees
// os.Stdout). It first duplicates the go command's descriptor itself (pidfd_getfd), so writes share
// its file offset; failing that it opens the same pipe or terminal through /proc. A regular file
// is never opened a second time: the go command would write over the notes at its own offset.
func goCommandStdout() io.WriteCloser {
	ppid := os.Getppid()
	proc := filepath.Join("/proc", strconv.Itoa(ppid))
	comm, err := os.ReadFile(filepath.Join(proc, "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	if pidfd, err := unix.PidfdOpen(ppid, 0); err == nil {
		fd, err := unix.PidfdGetfd(pidfd, 1, 0)
		_ = unix.Close(pidfd)
		if err == nil {
			return os.NewFile(uintptr(fd), "go command stdout")
		}
	}
	target := filepath.Join(proc, "fd", "1")
	fi, err := os.Stat(target)
	if err != nil || fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	return f
}

// preventCaching keeps the go command from caching this result, so the next `go test ./...`
// repeats the notes instead of a bare "ok (cached)". Before reusing a result the go command
// re-checks every directory the test changed into by its stat, outside the module too
// (cmd/go/internal/test: computeTestInputsID, "chdir" entries; opened files count only inside the
// module). Each go command creates its work directory (go-build…) in GOTMPDIR or the temporary
// directory as it starts, changing that directory's modification time before the check. The
// change of directory happens on a thread of its own (unshare CLONE_FS) that exits afterwards, so
// tests running in parallel never see another working directory. It must run while tests run:
// the test log is closed when m.Run returns.
func preventCaching() {
	dir := os.Getenv("GOTMPDIR")
	if dir == "" {
		dir = os.TempDir()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if unix.Unshare(unix.CLONE_FS) != nil {
			return
		}
		_ = os.Chdir(dir)
	}()
	<-done
}
