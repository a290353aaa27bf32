package container

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Container runtimes' state, read where it is a plain file:
//
//   - Docker keeps each container's configuration, its name included, in
//     <data root>/containers/<id>/config.v2.json until the container is
//     removed.
//   - Podman (rootful) lists its containers with their names in
//     containers/storage's <driver>-containers/containers.json.
//
// Not read: containerd's metadata is a bolt database, and the OCI bundles
// of containerd and CRI-O (config.json with the CRI's name annotations) are
// deleted as soon as the container's task exits, which an OOM kill of its
// main process makes happen at once. Kubernetes containers are named from
// the kubelet's log links instead. Rootless Podman and Docker keep their
// state in the user's home, and are not looked up.

// Caps on the state files read, far above their real sizes, so that a huge
// or endless file cannot make a lookup eat memory.
const (
	maxDockerConfig = 4 << 20
	maxStorageList  = 64 << 20
)

// dockerName reads the name of the Docker container id from Docker's data
// root dir.
func dockerName(dir, id string) lookupResult {
	if dir == "" {
		return lookupResult{}
	}
	b, err := readCapped(filepath.Join(dir, "containers", id, "config.v2.json"), maxDockerConfig)
	if err != nil {
		return lookupResult{}
	}
	var config struct {
		ID   string
		Name string
	}
	if err := json.Unmarshal(b, &config); err != nil || config.ID != id {
		return lookupResult{}
	}
	name := strings.TrimPrefix(config.Name, "/")
	if !isRuntimeName(name) {
		return lookupResult{}
	}
	return lookupResult{names: Names{Name: name}, runtime: event.RuntimeDocker, found: true}
}

// podmanName finds the name of the Podman container id in the container
// lists of the containers/storage root dir.
func podmanName(dir, id string) lookupResult {
	if dir == "" {
		return lookupResult{}
	}
	lists, err := filepath.Glob(filepath.Join(dir, "*-containers", "containers.json"))
	if err != nil {
		return lookupResult{}
	}
	for _, list := range lists {
		b, err := readCapped(list, maxStorageList)
		if err != nil {
			continue
		}
		var containers []struct {
			ID    string   `json:"id"`
			Names []string `json:"names"`
		}
		if err := json.Unmarshal(b, &containers); err != nil {
			continue
		}
		for _, c := range containers {
			if c.ID == id && len(c.Names) > 0 && isRuntimeName(c.Names[0]) {
				return lookupResult{names: Names{Name: c.Names[0]}, runtime: event.RuntimePodman, found: true}
			}
		}
	}
	return lookupResult{}
}

// readCapped reads the file name, failing if it is larger than max bytes.
func readCapped(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, max)
	}
	return b, nil
}

// isRuntimeName reports whether s is a name Docker and Podman accept for a
// container: a letter or digit, then letters, digits and "_.-".
func isRuntimeName(s string) bool {
	if s == "" || len(s) > maxNameLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
