// Command kube-testapiserver runs a real kube-apiserver on an embedded etcd in one server
// process, on loopback only, for jitpe's integration tests: built from Go modules, so the tests
// need neither a container runtime nor downloaded release binaries. Built by
// .ci/build-apiserver; started by tests/common/kube.rs.
//
// Usage:
//
//	kube-testapiserver --data-dir DIR --etcd-port N --etcd-peer-port M \
//	    [--exit-on-stdin-close] [--remove-data-dir] -- <kube-apiserver flags>
//
// It fills in --etcd-servers and, unless given, the service-account key flags with a fresh key.
//
// With --exit-on-stdin-close or --remove-data-dir the process supervises a copy of itself that
// runs the servers, so that the data directory is removed however the servers end (kube-apiserver
// exits through klog.Fatal when it is stopped during start-up, skipping deferred calls).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(run())
}

func run() int {
	dataDir := flag.String("data-dir", "", "directory for etcd data and the service-account key (required)")
	etcdPort := flag.Int("etcd-port", 0, "loopback port for etcd clients (required)")
	etcdPeerPort := flag.Int("etcd-peer-port", 0, "loopback port for etcd peers (required)")
	exitOnStdinClose := flag.Bool("exit-on-stdin-close", false,
		"shut down when stdin reaches EOF, so the server dies with the process that spawned it")
	removeDataDir := flag.Bool("remove-data-dir", false, "remove --data-dir on exit")
	supervised := flag.Bool("supervised", false, "internal: run the servers; stop when stdin closes")
	flag.Parse()
	if *dataDir == "" || *etcdPort == 0 || *etcdPeerPort == 0 {
		fmt.Fprintln(os.Stderr, "kube-testapiserver: --data-dir, --etcd-port and --etcd-peer-port are required")
		return 2
	}
	if *exitOnStdinClose || *removeDataDir {
		child := childArgs(*dataDir, *etcdPort, *etcdPeerPort, flag.Args())
		return supervise(*exitOnStdinClose, *removeDataDir, *dataDir, child)
	}
	return serve(*dataDir, *etcdPort, *etcdPeerPort, *supervised, flag.Args())
}

// serve runs etcd and kube-apiserver in this process until SIGTERM/SIGINT (or, if supervised,
// until stdin closes) and returns the exit code.
func serve(dataDir string, etcdPort, etcdPeerPort int, supervised bool, args []string) int {
	etcd, err := startEtcd(dataDir, etcdPort, etcdPeerPort)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-testapiserver: etcd: %v\n", err)
		return 1
	}
	defer etcd.Close()

	keyFile := filepath.Join(dataDir, "sa.key")
	if err := writeServiceAccountKey(keyFile); err != nil {
		fmt.Fprintf(os.Stderr, "kube-testapiserver: service-account key: %v\n", err)
		return 1
	}

	// NewAPIServerCommand installs the process-wide SIGTERM/SIGINT handler, so there is one
	// apiserver per process; cli.Run returns once it has shut down.
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(apiserverArgs(args, etcdPort, keyFile))
	if supervised {
		go terminateOnStdinEOF()
	}
	return cli.Run(cmd)
}

// startEtcd starts a single-member etcd on loopback and waits until it serves.
func startEtcd(dataDir string, port, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dataDir, "etcd")
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true // test data only: durability is not worth the fsync latency
	cfg.LogLevel = "error"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("not ready after 60s")
	}
}

// writeServiceAccountKey writes a fresh ECDSA P-256 key, used both to sign and to verify
// service-account tokens, as the in-tree StartTestServer does.
func writeServiceAccountKey(path string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// apiserverArgs adds the flags that only this process knows to the caller's flags.
func apiserverArgs(args []string, etcdPort int, keyFile string) []string {
	out := []string{fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort)}
	if !hasFlag(args, "--service-account-key-file") {
		out = append(out, "--service-account-key-file="+keyFile)
	}
	if !hasFlag(args, "--service-account-signing-key-file") {
		out = append(out, "--service-account-signing-key-file="+keyFile)
	}
	return append(out, args...)
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// terminateOnStdinEOF sends SIGTERM to this process once stdin is closed, i.e. once the
// supervisor has exited or asks it to stop.
func terminateOnStdinEOF() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
}
