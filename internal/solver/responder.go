package solver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/certflow/certflow/activities"
)

// Responder answers HTTP-01 challenges with the responses kept in its
// namespace's ConfigMaps: Serve watches them and answers.
type Responder struct {
	namespace string
	factory   informers.SharedInformerFactory
	synced    cache.InformerSynced
	records   listersv1.ConfigMapNamespaceLister
	log       *slog.Logger
}

// New returns a responder for the responses in namespace.
func New(kube kubernetes.Interface, namespace string, log *slog.Logger) *Responder {
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelToken }))
	cms := factory.Core().V1().ConfigMaps()
	return &Responder{
		namespace: namespace,
		factory:   factory,
		synced:    cms.Informer().HasSynced,
		records:   cms.Lister().ConfigMaps(namespace),
		log:       log,
	}
}

// watch keeps the responses in memory until ctx ends.
func (r *Responder) watch(ctx context.Context) {
	r.factory.Start(ctx.Done())
	<-ctx.Done()
	r.factory.Shutdown()
}

// Serve watches the responses and serves them on ln until ctx ends.
func (r *Responder) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.watch(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	r.log.Info("HTTP-01 responder listening", "address", ln.Addr().String(), "namespace", r.namespace)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("HTTP-01 responder: %w", err)
	}
	return nil
}

// ServeHTTP answers GET and HEAD of the challenge path with the key
// authorization of a token it holds, for the host the token is for; 404
// for everything else, and 503 until the first list of responses is in.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, activities.HTTP01Path)
	if !ok || !validToken(token) || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		http.NotFound(w, req)
		return
	}
	if !r.synced() {
		http.Error(w, "the responder is starting", http.StatusServiceUnavailable)
		return
	}
	host := hostOf(req.Host)
	rec, err := r.lookup(token)
	if err != nil || rec.Host != host {
		r.log.Debug("HTTP-01 challenge not held", "host", host, "token", token, "error", err)
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(rec.KeyAuthorization))
	r.log.Debug("answered HTTP-01 challenge", "host", host, "token", token, "from", req.RemoteAddr)
}

func (r *Responder) lookup(token string) (Record, error) {
	cm, err := r.records.Get(Name(token))
	if err != nil {
		if apierrors.IsNotFound(err) {
			return Record{}, errors.New("no such token")
		}
		return Record{}, err
	}
	rec, ok := recordOf(cm)
	if !ok || rec.Token != token {
		return Record{}, errors.New("no such token")
	}
	return rec, nil
}

// validToken says whether s can be an ACME token: base64url characters
// (RFC 8555 section 8.3), not empty.
func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hostOf is a Host header's name, lower case, without port or final dot.
func hostOf(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}
