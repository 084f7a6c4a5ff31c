package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image twice from the same inputs, reads the first
// tarball back as `docker load` or `crane push` would, and runs the binary
// it holds: the image carries what the options say, runs as non-root, and
// the two builds are the same bytes with the same digest.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	const release, commit = "v9.8.7-test", "0123456789abcdef0123456789abcdef01234567"
	o := options{tag: "certflow:" + release, version: release, commit: commit, sourceDateEpoch: 1700000000,
		caCertificates: "/etc/ssl/certs/ca-certificates.crt", arch: runtime.GOARCH}
	first, second := o, o
	first.out, second.out = filepath.Join(dir, "first.tar"), filepath.Join(dir, "second.tar")
	start := time.Now()
	digest, size, err := build(first)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %s, %.1f MB, %s", digest, float64(size)/1e6, time.Since(start).Round(time.Second))
	again, _, err := build(second)
	if err != nil {
		t.Fatal(err)
	}
	if again != digest {
		t.Errorf("two builds from the same inputs: digests %s and %s", digest, again)
	}
	if a, b := fileSHA256(t, first.out), fileSHA256(t, second.out); a != b {
		t.Errorf("two builds from the same inputs: tarballs differ (sha256 %x and %x)", a, b)
	}

	img, err := tarball.ImageFromPath(first.out, nil)
	if err != nil {
		t.Fatalf("reading the tarball back: %v", err)
	}
	if got, err := img.Digest(); err != nil || got != digest {
		t.Errorf("the tarball's image has digest %s (%v), build printed %s", got, err, digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || !slices.Equal(cf.Config.Entrypoint, []string{binaryPath}) || cf.Architecture != runtime.GOARCH || cf.OS != "linux" {
		t.Errorf("config: user %q, entrypoint %q, platform %s/%s; want 65532:65532, [%s], linux/%s",
			cf.Config.User, cf.Config.Entrypoint, cf.OS, cf.Architecture, binaryPath, runtime.GOARCH)
	}
	if got := cf.Config.Labels["org.opencontainers.image.revision"]; got != commit {
		t.Errorf("label org.opencontainers.image.revision is %q, want %q", got, commit)
	}
	if !cf.Created.Time.Equal(time.Unix(o.sourceDateEpoch, 0)) {
		t.Errorf("config created %s, want the source date %s", cf.Created.Time, time.Unix(o.sourceDateEpoch, 0).UTC())
	}

	files := extract(t, img, o.sourceDateEpoch)
	ca, err := os.ReadFile(o.caCertificates)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["etc/ssl/certs/ca-certificates.crt"], ca) {
		t.Errorf("the image's etc/ssl/certs/ca-certificates.crt is not %s", o.caCertificates)
	}
	bin := filepath.Join(dir, "certflow")
	if err := os.WriteFile(bin, files[binaryPath[1:]], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("the image's certflow version: %v\n%s", err, out)
	}
	if want := "certflow " + release + " (" + commit[:12] + ")\n"; string(out) != want {
		t.Errorf("the image's certflow version printed %q, want %q", out, want)
	}
}

// extract reads the image's files (its layers flattened) by name, and
// checks each is dated at the source date.
func extract(t *testing.T, img v1.Image, epoch int64) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("reading the image's files: %v", err)
		}
		if h.ModTime.Unix() != epoch {
			t.Errorf("%s is dated %s, want the source date", h.Name, h.ModTime.UTC())
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

func fileSHA256(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
