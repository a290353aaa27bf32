package event

// Runtime names the container runtime that made a container's cgroup.
type Runtime string

const (
	RuntimeContainerd Runtime = "containerd"
	RuntimeCRIO       Runtime = "cri-o"
	RuntimeDocker     Runtime = "docker"
	RuntimePodman     Runtime = "podman"
)

// QoS is a Kubernetes pod's quality of service class.
type QoS string

const (
	QoSGuaranteed QoS = "guaranteed"
	QoSBurstable  QoS = "burstable"
	QoSBestEffort QoS = "besteffort"
)

// Level says which node of the container tree a cgroup is.
type Level string

const (
	// LevelContainer is a container's own cgroup, or one below it.
	LevelContainer Level = "container"
	// LevelMonitor is the cgroup of a container's monitor process (conmon),
	// not of the container itself.
	LevelMonitor Level = "monitor"
	// LevelPod is a Kubernetes pod's cgroup, which holds its containers.
	LevelPod Level = "pod"
	// LevelQoS is the kubelet's cgroup of all pods of one QoS class.
	LevelQoS Level = "qos"
	// LevelKubepods is the kubelet's cgroup of all pods (node allocatable).
	LevelKubepods Level = "kubepods"
)

// Owner is who a cgroup belongs to: a container, a Kubernetes pod, a systemd
// unit. The attribute stage works it out from the cgroup's path and looks up
// the names people use. The zero Owner means nothing was recognised.
//
// Within a pod, Level "" means a cgroup below the pod that is not a
// recognised container: the pod is known, the container is not.
type Owner struct {
	Runtime Runtime `json:"runtime,omitempty"`
	// ID is the container's full ID, 64 lowercase hex digits.
	ID string `json:"id,omitempty"`
	// Name is the container's name, looked up.
	Name string `json:"name,omitempty"`
	// PodUID is the Kubernetes pod's UID with dashes, as the API server
	// shows it (static pods have 32 hex digits instead).
	PodUID string `json:"pod_uid,omitempty"`
	// PodName and Namespace are the pod's, looked up.
	PodName   string `json:"pod_name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	QoS       QoS    `json:"qos,omitempty"`
	Level     Level  `json:"level,omitempty"`
	// Unit is the innermost systemd unit of a cgroup that is neither a
	// container nor in a pod: "nginx.service", "session-3.scope",
	// "user-1000.slice".
	Unit string `json:"unit,omitempty"`
	// User is the uid of the user slice (user.slice/user-UID.slice) the
	// cgroup is in, in decimal. Containers of a user's own runtime (rootless
	// Podman or Docker) have it set; their names are never looked up in the
	// system's runtime state.
	User string `json:"user,omitempty"`
}

// IsZero reports whether nothing was recognised. The writers ask it of
// every event with a cgroup: field by field, it is inlined, where comparing
// the whole struct is a call to compare ten strings.
func (o Owner) IsZero() bool {
	return o.Runtime == "" && o.ID == "" && o.Name == "" && o.PodUID == "" && o.PodName == "" &&
		o.Namespace == "" && o.QoS == "" && o.Level == "" && o.Unit == "" && o.User == ""
}
