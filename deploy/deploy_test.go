// Package deploy holds the manifests and units that run oomtrace as a node
// agent; its tests check them.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Every document of the manifest decodes strictly (no unknown or
// misspelled field) into its Kubernetes API type.
func TestKubernetesManifests(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/oomtrace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var ds appsv1.DaemonSet
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.Kind {
		case "Namespace":
			obj = &corev1.Namespace{}
		case "ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "Service":
			obj = &corev1.Service{}
		case "DaemonSet":
			obj = &ds
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %v", meta.Kind, err)
		}
		kinds = append(kinds, meta.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"DaemonSet", "Namespace", "Service", "ServiceAccount"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}

	// Least privilege: no privileged mode, every capability named.
	c := ds.Spec.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged != nil && *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container may be privileged or escalate: %+v", sc)
	}
	if sc != nil && sc.Capabilities != nil {
		if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("capabilities dropped: %v, want ALL", sc.Capabilities.Drop)
		}
		for _, add := range sc.Capabilities.Add {
			if add == "SYS_ADMIN" {
				t.Error("CAP_SYS_ADMIN is not needed: CAP_BPF and CAP_PERFMON are")
			}
		}
	}
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("mount %s is writable", m.MountPath)
		}
	}
	if ds.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
		t.Error("no prometheus.io/scrape annotation")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("probes are not /healthz and /readyz")
	}
}

func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit is checked where systemd is")
	}
	// verify looks for ExecStart's binary: point it at a stand-in.
	unit, err := os.ReadFile("systemd/oomtrace.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := dir + "/oomtrace"
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(unit), "/usr/local/bin/oomtrace", bin, 1)
	if err := os.WriteFile(dir+"/oomtrace.service", []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", dir+"/oomtrace.service").CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Unknown key")) || bytes.Contains(out, []byte("Unknown lvalue")) {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
}
