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
//
// It prints one line per problem and exits 1 if there was any.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: deploycheck compose|dockerfile FILE...")
		os.Exit(2)
	}
	check := map[string]func(string) []string{"compose": checkCompose, "dockerfile": checkDockerfile}[os.Args[1]]
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
