package api

import "time"

// PathReplicas with GET lists the running servers (replicas) of this platform.
const PathReplicas = "/proxy-svc/replicas"

// Replica is one running `oo server` of a platform. With the bolt store there is exactly one;
// with etcd, every replica that holds a live registration (a lease it keeps alive).
type Replica struct {
	ID string `json:"id"`
	// Address is where other replicas and users reach it (--advertise, default the listen
	// address).
	Address   string    `json:"address"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"startedAt"`
	// Prober is true for the replica that health-checks the instances (one at a time).
	Prober bool `json:"prober"`
	// Self is true for the replica that answered the request.
	Self bool `json:"self"`
}

// ListReplicasResponse is the answer of GET PathReplicas, replicas in id order.
type ListReplicasResponse struct {
	// Store is "bolt" or "etcd".
	Store    string    `json:"store"`
	Replicas []Replica `json:"replicas"`
}
