// runc-wrap runs runc after clamping the bundle's process.oomScoreAdj to at least 0.
//
// The kubelet asks for a negative oom_score_adj for pod sandboxes (-998) and Guaranteed pods
// (-997). Lowering it needs CAP_SYS_RESOURCE, which root on the test machines does not have, so
// runc would fail every sandbox with "can't get final child's PID from pipe: EOF". containerd's
// runc options point BinaryName here; every other argument and the exit status pass through.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	args := os.Args[1:]
	for i, a := range args {
		if (a == "--bundle" || a == "-b") && i+1 < len(args) {
			if err := clamp(filepath.Join(args[i+1], "config.json")); err != nil {
				fmt.Fprintf(os.Stderr, "runc-wrap: %v\n", err)
				os.Exit(1)
			}
		}
	}
	real := os.Getenv("REAL_RUNC")
	if real == "" {
		real = "/usr/sbin/runc"
	}
	err := syscall.Exec(real, append([]string{real}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-wrap: exec %s: %v\n", real, err)
	os.Exit(127)
}

// clamp rewrites config.json only when it asks for a negative score; other fields are kept as
// raw JSON so nothing else in the OCI spec changes.
func clamp(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var process map[string]json.RawMessage
	if raw, ok := spec["process"]; !ok || json.Unmarshal(raw, &process) != nil {
		return nil
	}
	var score int
	if raw, ok := process["oomScoreAdj"]; !ok || json.Unmarshal(raw, &score) != nil || score >= 0 {
		return nil
	}
	process["oomScoreAdj"] = json.RawMessage("0")
	if spec["process"], err = json.Marshal(process); err != nil {
		return err
	}
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
