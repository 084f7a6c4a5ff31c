package v1alpha1

import (
	"reflect"
	"slices"
	"strings"
)

// SecretNames are the names of the Secrets the issuer reads, sorted, each
// once: every SecretKeySelector in its spec (TSIG keys, API tokens, the ACME
// account key) and every reference whose field is named ...SecretRef (lego's settings). They
// live in the issuer's namespace, or the cluster resource namespace for a
// ClusterIssuer.
func (s *IssuerSpec) SecretNames() []string {
	var names []string
	collectSecretNames(reflect.ValueOf(s).Elem(), "", &names)
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	secretKeySelectorType    = reflect.TypeFor[SecretKeySelector]()
	localObjectReferenceType = reflect.TypeFor[LocalObjectReference]()
)

func collectSecretNames(v reflect.Value, field string, names *[]string) {
	switch v.Kind() {
	case reflect.String:
		if field == "secretName" && v.String() != "" { // a ca issuer's key pair
			*names = append(*names, v.String())
		}
	case reflect.Pointer:
		if !v.IsNil() {
			collectSecretNames(v.Elem(), field, names)
		}
	case reflect.Slice:
		for i := range v.Len() {
			collectSecretNames(v.Index(i), field, names)
		}
	case reflect.Struct:
		switch {
		case v.Type() == secretKeySelectorType:
			*names = append(*names, v.Interface().(SecretKeySelector).Name)
			return
		case v.Type() == localObjectReferenceType:
			if strings.HasSuffix(field, "SecretRef") {
				*names = append(*names, v.Interface().(LocalObjectReference).Name)
			}
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				collectSecretNames(v.Field(i), name, names)
			}
		}
	}
}
