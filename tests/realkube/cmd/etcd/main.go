// etcd, built from its server module at the version the pinned Kubernetes release
// requires, so the API server gets the storage it was released with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
