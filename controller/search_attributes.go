package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	tclient "go.temporal.io/sdk/client"

	"github.com/certflow/certflow/workflows"
)

// CheckSearchAttributes says whether the Temporal namespace has every one of
// certflow's search attributes (workflows.SearchAttributes) with its type.
// A workflow that sets an attribute its namespace lacks fails its task until
// someone adds it, so the controller turns them on (Options.SearchAttributes)
// only when this returns nil; the error says what is missing and how to add it.
func CheckSearchAttributes(ctx context.Context, c tclient.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing the search attributes of Temporal namespace %s: %w", namespace, err)
	}
	var missing []string
	for name, typ := range workflows.SearchAttributes {
		want := enumspb.IndexedValueType(enumspb.IndexedValueType_value["INDEXED_VALUE_TYPE_"+strings.ToUpper(typ)])
		if got, ok := resp.CustomAttributes[name]; !ok || got != want {
			missing = append(missing, fmt.Sprintf("--name %s --type %s", name, typ))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("Temporal namespace %s lacks %d of certflow's search attributes: add them with `temporal operator search-attribute create --namespace %s %s`",
		namespace, len(missing), namespace, strings.Join(missing, " "))
}
