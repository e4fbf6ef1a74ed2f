// Command deploycheck validates scanbridge's deployment files offline, with the libraries the real
// tools use:
//
//	deploycheck compose FILE...     load each Compose file with compose-go (the Compose Specification's
//	                                JSON schema, interpolation and consistency checks, as
//	                                `docker compose config` does)
//	deploycheck dockerfile FILE...  parse each Dockerfile with BuildKit's parser and instruction parser
//	                                with its linter on (the instruction-level rules of
//	                                `docker build --check`; the rules that need a build context, such as
//	                                UndefinedVar or CopyIgnoredFile, are not run here)
//	deploycheck rules FILE...       parse and validate Prometheus rule files with Prometheus' own rulefmt
//	                                and PromQL parser (what `promtool check rules` does)
//	deploycheck grafana FILE...     parse the PromQL of every panel target of Grafana dashboards (with
//	                                $__rate_interval and template variables substituted)
//
// It prints one line per problem and exits 1 if there was any; for rules and dashboards it also prints
// "metric: NAME" for each metric an expression reads, so tests can check that those metrics exist.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	promql "github.com/prometheus/prometheus/promql/parser"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: deploycheck compose|dockerfile FILE...")
		os.Exit(2)
	}
	check := map[string]func(string) []string{"compose": checkCompose, "dockerfile": checkDockerfile,
		"rules": checkRules, "grafana": checkGrafana}[os.Args[1]]
	if check == nil {
		fmt.Fprintf(os.Stderr, "unknown check %q\n", os.Args[1])
		os.Exit(2)
	}
	failed := false
	for _, file := range os.Args[2:] {
		problems := check(file)
		for _, p := range problems {
			fmt.Printf("%s: %s\n", file, p)
		}
		if len(problems) == 0 {
			fmt.Printf("%s: ok\n", file)
		}
		failed = failed || len(problems) > 0
	}
	if failed {
		os.Exit(1)
	}
}

func checkCompose(file string) []string {
	options, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)), cli.WithName("scanbridge"),
		cli.WithConsistency(true), cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	if err != nil {
		return []string{err.Error()}
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return []string{err.Error()}
	}
	if len(project.Services) == 0 {
		return []string{"no services"}
	}
	return nil
}

func checkDockerfile(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	result, err := parser.Parse(f)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, w := range result.Warnings {
		problems = append(problems, "parser: "+w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, url, msg string, location []parser.Range) {
		line := 0
		if len(location) > 0 {
			line = location[0].Start.Line
		}
		problems = append(problems, fmt.Sprintf("line %d: %s: %s (%s)", line, rule, msg, url))
	}})
	stages, _, err := instructions.Parse(result.AST, lint)
	if err != nil {
		problems = append(problems, err.Error())
	} else if len(stages) == 0 {
		problems = append(problems, "no build stage")
	}
	return problems
}

var promqlParser = promql.NewParser(promql.Options{})

// metricsOf parses one PromQL expression and prints the metric names it reads.
func metricsOf(expr string) ([]string, error) {
	ast, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	promql.Inspect(ast, func(node promql.Node, _ []promql.Node) error {
		if vs, ok := node.(*promql.VectorSelector); ok && vs.Name != "" {
			seen[vs.Name] = true
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func checkRules(file string) []string {
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promqlParser, slog.Default())
	var problems []string
	for _, err := range errs {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return problems
	}
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			names, err := metricsOf(rule.Expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", rule.Alert, err))
			}
			for _, name := range names {
				fmt.Printf("%s: metric: %s\n", file, name)
			}
		}
	}
	return problems
}

var grafanaVariable = regexp.MustCompile(`\$\{?(__rate_interval|__interval|__range)\}?|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)

func checkGrafana(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	exprs := 0
	for _, panel := range dashboard.Panels {
		for _, target := range panel.Targets {
			if target.Expr == "" {
				continue
			}
			exprs++
			expr := grafanaVariable.ReplaceAllStringFunc(target.Expr, func(v string) string {
				if regexp.MustCompile(`__(rate_interval|interval|range)`).MatchString(v) {
					return "5m"
				}
				return "x"
			})
			names, err := metricsOf(expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("panel %q: %v", panel.Title, err))
			}
			for _, name := range names {
				fmt.Printf("%s: metric: %s\n", file, name)
			}
		}
	}
	if exprs == 0 {
		problems = append(problems, "no PromQL expression in any panel")
	}
	return problems
}
