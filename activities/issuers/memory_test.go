package issuers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// objects is a client.Reader of an Issuer and Secrets that a test deletes
// as a namespace's deletion would.
type objects struct {
	issuers map[client.ObjectKey]certflowv1.IssuerSpec
	secrets map[client.ObjectKey]map[string][]byte
}

func (o *objects) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch obj := obj.(type) {
	case *certflowv1.Issuer:
		spec, ok := o.issuers[key]
		if !ok {
			return apierrors.NewNotFound(schema.GroupResource{Group: "certflow.dev", Resource: "issuers"}, key.Name)
		}
		obj.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Generation: 1}
		obj.Spec = *spec.DeepCopy()
	case *corev1.Secret:
		data, ok := o.secrets[key]
		if !ok {
			return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
		}
		obj.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}
		obj.Data = data
	default:
		return fmt.Errorf("the test reader holds no %T", obj)
	}
	return nil
}

func (o *objects) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("the test reader lists nothing")
}

var (
	teamRef  = activities.IssuerRef{Kind: activities.KindIssuer, Namespace: "team", Name: "dns"}
	teamKey  = client.ObjectKey{Namespace: "team", Name: "dns"}
	tsigKey  = client.ObjectKey{Namespace: "team", Name: "tsig"}
	tsigData = []byte("c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
)

// team is an Issuer in namespace team with its TSIG Secret beside it.
func team() *objects {
	return &objects{
		issuers: map[client.ObjectKey]certflowv1.IssuerSpec{teamKey: {ACME: &certflowv1.ACMEIssuer{Server: "https://ca.test/dir"}}},
		secrets: map[client.ObjectKey]map[string][]byte{tsigKey: {"secret": tsigData}},
	}
}

// goneAndForgotten fails unless err is a non-retryable error of type typ
// whose cause is ErrForgotten.
func goneAndForgotten(t *testing.T, err error, typ string) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.Is(err, ErrForgotten) || !errors.As(err, &app) || !app.NonRetryable() || app.Type() != typ {
		t.Fatalf("error %v: want a non-retryable %s caused by ErrForgotten", err, typ)
	}
}

func TestCleanUpRecallsWhatIsGone(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// read is how the issuance read the issuer and its TSIG secret.
		read  func(*Resolver) (*Issuer, error)
		gone  func(*objects)
		keeps bool // clean-up finds the TSIG secret
	}{
		{
			name:  "the issuer and its Secret deleted after presenting are recalled",
			read:  func(r *Resolver) (*Issuer, error) { return r.ResolveSolvers(ctx, teamRef) },
			gone:  func(o *objects) { clear(o.issuers); clear(o.secrets) },
			keeps: true,
		},
		{
			name:  "a Secret deleted while its issuer stays is recalled",
			read:  func(r *Resolver) (*Issuer, error) { return r.ResolveSolvers(ctx, teamRef) },
			gone:  func(o *objects) { clear(o.secrets) },
			keeps: true,
		},
		{
			name: "what ordering read (Resolve) is not remembered",
			read: func(r *Resolver) (*Issuer, error) { return r.Resolve(ctx, teamRef) },
			gone: func(o *objects) { clear(o.secrets) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := team()
			r := &Resolver{Client: o}
			iss, err := tc.read(r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := iss.SecretValue(ctx, "tsig", "secret"); err != nil {
				t.Fatal(err)
			}
			tc.gone(o)

			cleanUp, err := r.ResolveForCleanUp(ctx, teamRef)
			if err != nil {
				t.Fatalf("resolving for clean-up: %v", err)
			}
			if cleanUp.Spec.ACME == nil || cleanUp.Spec.ACME.Server != "https://ca.test/dir" || cleanUp.SecretNamespace != "team" {
				t.Fatalf("clean-up resolved %+v, want the issuer as it was", cleanUp)
			}
			value, err := cleanUp.SecretValue(ctx, "tsig", "secret")
			if !tc.keeps {
				goneAndForgotten(t, err, activities.ErrTypeConfig)
				return
			}
			if err != nil || string(value) != string(tsigData) {
				t.Fatalf("clean-up read the TSIG secret: %q, %v; want it from memory", value, err)
			}
			if got := cleanUp.Recalled(); len(got) == 0 || got[len(got)-1] != "Secret team/tsig" {
				t.Fatalf("Recalled() = %v, want it to name the Secret", got)
			}

			// Presenting and ordering read afresh, and find them gone.
			if _, err := r.Resolve(ctx, teamRef); len(o.issuers) == 0 && !apierrors.IsNotFound(err) {
				t.Fatalf("Resolve after the issuer was deleted: %v, want NotFound", err)
			}
			if present, err := r.ResolveSolvers(ctx, teamRef); err == nil {
				if _, err := present.SecretValue(ctx, "tsig", "secret"); errors.Is(err, ErrForgotten) || !apierrors.IsNotFound(err) {
					t.Fatalf("presenting read the deleted Secret: %v, want NotFound", err)
				}
			}
		})
	}
}

func TestARestartedWorkerGivesUp(t *testing.T) {
	ctx := context.Background()
	o := team()
	before := &Resolver{Client: o}
	iss, err := before.ResolveSolvers(ctx, teamRef)
	if err == nil {
		_, err = iss.SecretValue(ctx, "tsig", "secret")
	}
	if err != nil {
		t.Fatal(err)
	}
	clear(o.issuers)
	clear(o.secrets)

	_, err = (&Resolver{Client: o}).ResolveForCleanUp(ctx, teamRef)
	goneAndForgotten(t, err, activities.ErrTypeIssuerNotFound)
}

func TestMemoryIsBoundedInTimeAndCount(t *testing.T) {
	ctx := context.Background()
	o := team()
	r := &Resolver{Client: o, RememberFor: 50 * time.Millisecond}
	iss, err := r.ResolveSolvers(ctx, teamRef)
	if err == nil {
		_, err = iss.SecretValue(ctx, "tsig", "secret")
	}
	if err != nil {
		t.Fatal(err)
	}
	iss.ForgetSecrets() // a refused credential: read anew, but still remembered
	clear(o.issuers)
	if _, err := r.ResolveForCleanUp(ctx, teamRef); err != nil {
		t.Fatalf("within RememberFor: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	_, err = r.ResolveForCleanUp(ctx, teamRef)
	goneAndForgotten(t, err, activities.ErrTypeIssuerNotFound)

	var m memory[int, int]
	now := time.Now()
	keep := time.Hour
	m.put(-1, -1, now.Add(-2*keep), keep) // expired: goes first when full
	for i := range rememberAtMost {
		m.put(i, i, now.Add(time.Duration(i)*time.Millisecond), keep)
	}
	if _, ok := m.get(-1, now, keep); ok {
		t.Fatal("an expired entry is returned")
	}
	if _, ok := m.get(0, now, keep); !ok {
		t.Fatal("the oldest entry went before the expired one")
	}
	m.put(rememberAtMost, rememberAtMost, now.Add(time.Second), keep)
	if len(m.entries) != rememberAtMost {
		t.Fatalf("%d entries, want at most %d", len(m.entries), rememberAtMost)
	}
	if _, ok := m.get(0, now, keep); ok {
		t.Fatal("the oldest entry stays when the memory is full")
	}
	for _, k := range []int{1, rememberAtMost - 1, rememberAtMost} {
		if v, ok := m.get(k, now, keep); !ok || v != k {
			t.Fatalf("entry %d = %d, %v; want it kept", k, v, ok)
		}
	}
}
