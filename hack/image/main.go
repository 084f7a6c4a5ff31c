// Command image builds certflow's container image without a Docker daemon
// and writes it as a tarball that `docker load` reads (so do `podman load`,
// `kind load image-archive` and `crane push`). The image is two layers on
// nothing: a static base (Debian's CA certificates, a passwd entry for the
// non-root user 65532, /tmp) and the static certflow binary (CGO_ENABLED=0),
// whose entrypoint it is.
//
// The same inputs give the same image digest: the binary is built with
// -trimpath, every file in the layers and every date in the config carry
// the time -source-date-epoch gives (make passes the commit's time), owners
// and modes are fixed, and nothing depends on the machine's user, umask or
// clock. It must not import certflow's own packages: it packs the binary,
// it does not run it.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonRoot is the user the image runs as: distroless's "nonroot".
const nonRoot = 65532

// binaryPath is where the image keeps certflow, on its PATH.
const binaryPath = "/usr/local/bin/certflow"

// options say what goes into the image; the same options give the same digest.
type options struct {
	out             string // the tarball to write
	tag             string // the name `docker load` gives the image
	version, commit string // what `certflow version` prints
	sourceDateEpoch int64  // the time of every file and of the config, in Unix seconds
	caCertificates  string // the CA bundle to copy in (Debian's ca-certificates)
	arch            string // GOARCH of the binary and the image
}

func main() {
	var o options
	flag.StringVar(&o.out, "o", "bin/certflow-image.tar", "the image tarball to write")
	flag.StringVar(&o.tag, "tag", "", "the image's name in the tarball (default certflow:VERSION)")
	flag.StringVar(&o.version, "version", "", "the release `certflow version` prints (required)")
	flag.StringVar(&o.commit, "commit", "", "the commit `certflow version` prints (required)")
	flag.Int64Var(&o.sourceDateEpoch, "source-date-epoch", envInt("SOURCE_DATE_EPOCH"), "Unix time of the files and the config (SOURCE_DATE_EPOCH; make gives the commit's time)")
	flag.StringVar(&o.caCertificates, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to put in the image (Debian package ca-certificates)")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH of the image")
	flag.Parse()
	if o.tag == "" {
		o.tag = "certflow:" + o.version
	}
	digest, size, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("image: %s: %s, %s, %.1f MB\n", o.out, o.tag, digest, float64(size)/1e6)
}

// build builds the image and writes it to o.out; it returns the image's
// digest (that of its manifest, as a registry would show it) and the size
// of the tarball.
func build(o options) (v1.Hash, int64, error) {
	if o.version == "" || o.commit == "" {
		return v1.Hash{}, 0, fmt.Errorf("-version and -commit are required")
	}
	tag, err := name.NewTag(o.tag)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("-tag: %w", err)
	}
	created := time.Unix(o.sourceDateEpoch, 0).UTC()
	dir, err := os.MkdirTemp("", "certflow-image-")
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer os.RemoveAll(dir)
	bin, err := buildBinary(o, filepath.Join(dir, "certflow"))
	if err != nil {
		return v1.Hash{}, 0, err
	}
	ca, err := os.ReadFile(o.caCertificates)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("reading the CA bundle (install Debian's ca-certificates, make deps does): %w", err)
	}
	base, err := layer(created, baseFiles(ca))
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("base layer: %w", err)
	}
	app, err := layer(created, []file{
		{name: "usr/", mode: 0o755}, {name: "usr/local/", mode: 0o755}, {name: "usr/local/bin/", mode: 0o755},
		{name: strings.TrimPrefix(binaryPath, "/"), mode: 0o755, data: bin},
	})
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("binary layer: %w", err)
	}
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: CA certificates, passwd, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: certflow " + o.version}},
	)
	if err != nil {
		return v1.Hash{}, 0, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", o.arch, v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint: []string{binaryPath},
		User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "certflow",
			"org.opencontainers.image.version":  o.version,
			"org.opencontainers.image.revision": o.commit,
			"org.opencontainers.image.created":  created.Format(time.RFC3339),
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, 0, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	tmp := o.out + ".partial"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("writing %s: %w", o.out, err)
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return v1.Hash{}, 0, err
	}
	st, err := os.Stat(o.out)
	if err != nil {
		return v1.Hash{}, 0, err
	}
	return digest, st.Size(), nil
}

// buildBinary builds a static certflow for linux/o.arch at path, with the
// release and commit set as `make build` sets them, and returns it.
func buildBinary(o options, path string) ([]byte, error) {
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", o.version, o.commit)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", path, "github.com/certflow/certflow/cmd/certflow")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building certflow: %w\n%s", err, out)
	}
	return os.ReadFile(path)
}

// baseFiles are what a static Go program needs of an OS: CA roots for TLS,
// a user database that names the non-root user, the resolver's order of
// sources, and a writable /tmp.
func baseFiles(ca []byte) []file {
	return []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRoot, nonRoot))},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonRoot))},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, owner: nonRoot},
		{name: "root/", mode: 0o700},
		{name: "tmp/", mode: 0o1777},
	}
}

// file is one entry of a layer: a directory when its name ends in /.
type file struct {
	name  string
	mode  int64
	owner int
	data  []byte
}

// layer makes a gzipped layer of the files, in their order, each dated
// modTime and owned by its owner (root unless set).
func layer(modTime time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.owner, Gid: f.owner, ModTime: modTime, Format: tar.FormatPAX}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

func envInt(name string) int64 {
	n, _ := strconv.ParseInt(os.Getenv(name), 10, 64)
	return n
}
