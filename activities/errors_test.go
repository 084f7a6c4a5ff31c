package activities_test

import (
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/certflow/certflow/activities"
)

func TestAWriteTheAPIServerRefusesForGoodIsAConfigError(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"forbidden (RBAC)", apierrors.NewForbidden(secrets, "web-tls", errors.New("no patch")), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "web-tls", field.ErrorList{field.TooLong(field.NewPath("metadata", "labels"), "x", 63)}), true},
		{"malformed", apierrors.NewBadRequest("bad"), true},
		{"too large", apierrors.NewRequestEntityTooLargeError("too large"), true},
		{"a conflict", apierrors.NewConflict(secrets, "web-tls", errors.New("changed")), false},
		{"the API server unavailable", apierrors.NewServiceUnavailable("down"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := activities.KubeWriteError(tc.err, "writing Secret default/web-tls", "check the template")
			var app *temporal.ApplicationError
			permanent := errors.As(err, &app) && app.NonRetryable() && app.Type() == activities.ErrTypeConfig
			if permanent != tc.permanent {
				t.Fatalf("%v: permanent %t, want %t", err, permanent, tc.permanent)
			}
		})
	}
}
