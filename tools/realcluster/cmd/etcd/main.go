// etcd server of go.etcd.io/etcd/server/v3 at the release pinned in ../../go.mod (the same
// entry point as etcd's own main.go).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
