// kube-controller-manager of k8s.io/kubernetes at the release pinned in ../../go.mod: garbage
// collection, namespace deletion, ServiceAccounts and the other built-in controllers a real
// cluster runs beside its API server.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	command := app.NewControllerManagerCommand()
	os.Exit(cli.Run(command))
}
