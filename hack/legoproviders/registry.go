package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"strconv"
)

// registry reads lego's NewDNSChallengeProviderByName: each case of its
// switch names a provider (and its aliases) and returns the constructor of
// one package, pkg.NewDNSProvider().
func registry(file string) ([]provider, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	imports := map[string]string{}
	for _, spec := range f.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		imports[path.Base(p)] = p
	}
	var providers []provider
	ast.Inspect(f, func(n ast.Node) bool {
		clause, ok := n.(*ast.CaseClause)
		if !ok || len(clause.List) == 0 || len(clause.Body) != 1 {
			return true
		}
		ident, ok := constructor(clause.Body[0])
		if !ok {
			return true
		}
		p := provider{Ident: ident, Package: imports[ident]}
		for _, expr := range clause.List {
			if lit, ok := expr.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				p.Names = append(p.Names, name)
			}
		}
		providers = append(providers, p)
		return false
	})
	if len(providers) == 0 {
		return nil, fmt.Errorf("%s: no providers found in its switch", file)
	}
	return providers, nil
}

// constructor matches "return pkg.NewDNSProvider()" and says pkg.
func constructor(stmt ast.Stmt) (string, bool) {
	ret, ok := stmt.(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return "", false
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "NewDNSProvider" {
		return "", false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", false
	}
	return pkg.Name, true
}
