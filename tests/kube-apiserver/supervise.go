package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// stopGrace is how long the servers may take to shut down before they are killed.
const stopGrace = 30 * time.Second

// supervise runs this program again with --supervised in place of the supervisor flags, and
// holds the write end of the child's stdin: closing it tells the child to stop. The child is
// stopped when our stdin closes (if exitOnStdinClose) or on SIGTERM/SIGINT; if this process is
// killed, the pipe closes too. After the child has exited, however that happened, the data
// directory is removed (if removeDataDir), and the child's exit code is returned.
func supervise(exitOnStdinClose, removeDataDir bool, dataDir string, child []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-testapiserver: %v\n", err)
		return 1
	}
	cmd := exec.Command(self, child...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	stop, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-testapiserver: starting the servers: %v\n", err)
		return 1
	}

	stopRequested := make(chan struct{}, 2)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-signals; stopRequested <- struct{}{} }()
	if exitOnStdinClose {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); stopRequested <- struct{}{} }()
	}
	exited := make(chan struct{})
	go func() {
		select {
		case <-stopRequested:
			_ = stop.Close()
		case <-exited:
			return
		}
		select {
		case <-time.After(stopGrace):
			fmt.Fprintf(os.Stderr, "kube-testapiserver: not stopped after %v, killing\n", stopGrace)
			_ = cmd.Process.Kill()
		case <-exited:
		}
	}()

	_ = cmd.Wait()
	close(exited)
	if removeDataDir {
		_ = os.RemoveAll(dataDir)
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	return 1 // ended by a signal
}

// childArgs are the arguments of the supervised copy: the same servers, no supervisor flags.
func childArgs(dataDir string, etcdPort, etcdPeerPort int, apiserverArgs []string) []string {
	return append([]string{
		"--supervised",
		"--data-dir=" + dataDir,
		fmt.Sprintf("--etcd-port=%d", etcdPort),
		fmt.Sprintf("--etcd-peer-port=%d", etcdPeerPort),
		"--",
	}, apiserverArgs...)
}
