package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// envName is what a variable's name looks like; a namespace ("OVH_") is not one.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*[A-Z0-9]$`)

// source is what the Go files of a provider's package say about it.
type source struct {
	// env are the values of its Env* string constants that name variables.
	env []string
	// stateful: its CleanUp looks up what its Present remembered.
	stateful bool
	// forgets is how its CleanUp begins the error it returns for a record
	// it does not remember, "" when it says nothing.
	forgets string
}

// readSource parses the non-test Go files of the package in dir.
func readSource(dir string) (source, error) {
	files, err := parseDir(dir)
	if err != nil {
		return source{}, err
	}
	var s source
	s.env = envConstants(files)
	s.stateful, s.forgets = state(files)
	return s, nil
}

func parseDir(dir string) ([]*ast.File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// envConstants evaluates the package's string constants (literals and sums
// of literals and other constants, as in envNamespace + "API_KEY") and
// returns those of the constants named Env... that are variable names.
func envConstants(files []*ast.File) []string {
	exprs := map[string]ast.Expr{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						exprs[name.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	var names []string
	for name, expr := range exprs {
		if !strings.HasPrefix(name, "Env") {
			continue
		}
		if value, ok := evalString(expr, exprs, 0); ok && envName.MatchString(value) {
			names = append(names, value)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// evalString evaluates a constant string expression; depth stops cycles.
func evalString(expr ast.Expr, consts map[string]ast.Expr, depth int) (string, bool) {
	if depth > 10 {
		return "", false
	}
	switch e := expr.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		if c, ok := consts[e.Name]; ok {
			return evalString(c, consts, depth+1)
		}
	case *ast.ParenExpr:
		return evalString(e.X, consts, depth+1)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		x, ok := evalString(e.X, consts, depth+1)
		if !ok {
			return "", false
		}
		y, ok := evalString(e.Y, consts, depth+1)
		return x + y, ok
	}
	return "", false
}

// state says whether the provider keeps records between Present and
// CleanUp: its CleanUp reads, by key, a map field of DNSProvider that one of
// its methods fills by key (recordIDs[token] = id, ...). lego's providers
// keep record IDs, zone IDs or records so, under a mutex. forgets is the
// start of the message of an "if !ok { return fmt.Errorf(...) }" in that
// CleanUp ("porkbun: unknown record ID for").
func state(files []*ast.File) (stateful bool, forgets string) {
	fields := mapFields(files)
	written := map[string]bool{}
	var cleanUp *ast.FuncDecl
	for _, f := range files {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || receiverType(fn) != "DNSProvider" {
				continue
			}
			if fn.Name.Name == "CleanUp" {
				cleanUp = fn
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if assign, ok := n.(*ast.AssignStmt); ok {
					for _, lhs := range assign.Lhs {
						if field := indexedField(lhs, fn, fields); field != "" {
							written[field] = true
						}
					}
				}
				return true
			})
		}
	}
	if cleanUp == nil || cleanUp.Body == nil {
		return false, ""
	}
	ast.Inspect(cleanUp.Body, func(n ast.Node) bool {
		if expr, ok := n.(ast.Expr); ok && written[indexedField(expr, cleanUp, fields)] {
			stateful = true
		}
		return true
	})
	if stateful {
		forgets = notFoundMessage(cleanUp)
	}
	return stateful, forgets
}

// mapFields are the fields of type DNSProvider that are maps.
func mapFields(files []*ast.File) map[string]bool {
	fields := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.TypeSpec)
			if !ok || spec.Name.Name != "DNSProvider" {
				return true
			}
			if st, ok := spec.Type.(*ast.StructType); ok {
				for _, field := range st.Fields.List {
					if _, ok := field.Type.(*ast.MapType); ok {
						for _, name := range field.Names {
							fields[name.Name] = true
						}
					}
				}
			}
			return false
		})
	}
	return fields
}

// receiverType is the type of fn's receiver, without the pointer.
func receiverType(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) != 1 {
		return ""
	}
	t := fn.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if ident, ok := t.(*ast.Ident); ok {
		return ident.Name
	}
	return ""
}

// indexedField is f when expr is recv.f[key] with f a map field, else "".
func indexedField(expr ast.Expr, fn *ast.FuncDecl, fields map[string]bool) string {
	index, ok := expr.(*ast.IndexExpr)
	if !ok || len(fn.Recv.List[0].Names) != 1 {
		return ""
	}
	sel, ok := index.X.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	recv, ok := sel.X.(*ast.Ident)
	if !ok || recv.Name != fn.Recv.List[0].Names[0].Name || !fields[sel.Sel.Name] {
		return ""
	}
	return sel.Sel.Name
}

// notFoundMessage is the literal start, up to its first verb, of the error
// fn returns in an "if !ok" branch, "" when it has none.
func notFoundMessage(fn *ast.FuncDecl) string {
	var msg string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		stmt, ok := n.(*ast.IfStmt)
		if !ok || msg != "" {
			return msg == ""
		}
		if not, ok := stmt.Cond.(*ast.UnaryExpr); !ok || not.Op != token.NOT {
			return true
		}
		for _, s := range stmt.Body.List {
			if ret, ok := s.(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
				msg = errorFormat(ret.Results[0])
			}
		}
		return true
	})
	msg, _, _ = strings.Cut(msg, "%")
	return strings.TrimRight(msg, ` '"`)
}

// errorFormat is the format of fmt.Errorf("...", ...) or errors.New("...").
func errorFormat(expr ast.Expr) string {
	call, ok := expr.(*ast.CallExpr)
	if !ok || len(call.Args) == 0 {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Errorf" && sel.Sel.Name != "New" {
		return ""
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, _ := strconv.Unquote(lit.Value)
	return s
}
