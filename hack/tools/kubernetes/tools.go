//go:build tools

// Package tools pins kube-apiserver so that go.mod and go.sum record its dependencies.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
