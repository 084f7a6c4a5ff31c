package lego

import (
	"errors"
	"reflect"
)

// statusOf finds the HTTP status in an error of lego's providers: the
// StatusCode field (an int) of an error in its chain, as lego's
// UnexpectedStatusCodeError and many API error types have; 0 when none has.
func statusOf(err error) int {
	for err != nil {
		if code, ok := statusField(err); ok {
			return code
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if code := statusOf(e); code != 0 {
					return code
				}
			}
			return 0
		default:
			err = errors.Unwrap(err)
		}
	}
	return 0
}

func statusField(err error) (int, bool) {
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return 0, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	f := v.FieldByName("StatusCode")
	if !f.IsValid() || !f.CanInt() {
		return 0, false
	}
	return int(f.Int()), true
}
