// bulwark-gitops-check: what Argo CD and Flux would say about Bulwark's resources.
//
//	bulwark-gitops-check argocd-health <script.lua>   runs an Argo CD health script (gitops/argocd/health.lua)
//	bulwark-gitops-check kstatus                      runs kstatus (sigs.k8s.io/cli-utils), as Flux does
//
// Both read one object (JSON), a List (its items) or a JSON array of objects on stdin, and print one
// JSON line per object: {"kind","name","status","message"}, plus "error" when the check itself
// failed (then the exit code is 1, after every object was checked). Exit 2: bad usage or input.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Result is one output line.
type Result struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

type check func(u *unstructured.Unstructured) (status, message string, err error)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var run check
	switch os.Args[1] {
	case "argocd-health":
		if len(os.Args) != 3 {
			usage()
		}
		script, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err)
		}
		run = argocdHealth(string(script))
	case "kstatus":
		if len(os.Args) != 2 {
			usage()
		}
		run = kstatus
	default:
		usage()
	}
	objects, err := readObjects(os.Stdin)
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	failed := false
	for _, u := range objects {
		r := Result{Kind: u.GetKind(), Name: u.GetName()}
		status, message, err := run(u)
		if err != nil {
			failed = true
			r.Status, r.Error = "Unknown", err.Error()
		} else {
			r.Status, r.Message = status, message
		}
		if err := enc.Encode(r); err != nil {
			fail(err)
		}
	}
	if err := out.Flush(); err != nil {
		fail(err)
	}
	if failed {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bulwark-gitops-check argocd-health <script.lua> < objects.json\n       bulwark-gitops-check kstatus < objects.json")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bulwark-gitops-check:", err)
	os.Exit(2)
}

// readObjects decodes stdin the way client-go decodes what the API server returns (integers as
// int64, which both Argo CD's Lua conversion and kstatus's NestedInt64 expect).
func readObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	switch {
	case len(data) == 0:
		return nil, errors.New("no input: expected a JSON object, a List or an array of objects on stdin")
	case data[0] == '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, fmt.Errorf("reading the array: %w", err)
		}
	default:
		var head struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("reading the object: %w", err)
		}
		if head.Items != nil && (head.Kind == "List" || len(head.Kind) > 4 && head.Kind[len(head.Kind)-4:] == "List") {
			raws = head.Items
		} else {
			raws = []json.RawMessage{data}
		}
	}
	objects := make([]*unstructured.Unstructured, 0, len(raws))
	for i, raw := range raws {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("object %d: %w", i, err)
		}
		objects = append(objects, u)
	}
	return objects, nil
}
