// pause is the pod sandbox's process: it holds the pod's namespaces, reaps zombies and exits
// on SIGINT or SIGTERM. Built statically (CGO_ENABLED=0) and imported as
// registry.k8s.io/pause:3.10.2, the sandbox image containerd 2.4 asks for, so nothing is pulled.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("bulwark pause")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
