package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RepoRoot finds the certflow checkout from the working directory (tests run in
// their package's folder), by looking upwards for the folder with deploy/crds.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "deploy", "crds")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no deploy/crds above the working directory")
		}
		dir = parent
	}
}

// BinDir is where the pinned tool binaries are: $CERTFLOW_BIN, else bin/ in the checkout.
func BinDir() (string, error) {
	if dir := os.Getenv("CERTFLOW_BIN"); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// binary returns the path of a pinned tool, or an error that says how to get it.
func binary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s not found in %s: run `make tools`", name, dir)
	}
	return path, nil
}

// systemBinary finds a program installed from Debian packages (BIND's named).
func systemBinary(name string, dirs ...string) (string, error) {
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s not found: run `make deps` to install it", name)
}
