package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/registry"
)

// registryCollector reads the registry when scraped: nothing is counted on the registry's hot
// paths for it beyond the registry's own two counters, and series of a removed instance vanish
// with it.
type registryCollector struct{ r *registry.Registry }

var (
	descInstances = prometheus.NewDesc("oo_registry_instances",
		"Registered instances by status.", []string{"status"}, nil)
	descSlugs = prometheus.NewDesc("oo_registry_slugs",
		"Slugs with at least one registered instance.", nil, nil)
	descRegistrations = prometheus.NewDesc("oo_registry_registrations_total",
		"Registrations accepted by this server (re-registrations included).", nil, nil)
	descHeartbeats = prometheus.NewDesc("oo_registry_heartbeats_total",
		"Heartbeats accepted by this server.", nil, nil)
	descProbing = prometheus.NewDesc("oo_registry_probing",
		"1 when this server health-checks the instances (in a cluster only the elected replica does), else 0.", nil, nil)
	descInstanceStatus = prometheus.NewDesc("oo_instance_status",
		"1 for the instance's current status, 0 for the others (one series per status).", []string{"slug", "instance", "status"}, nil)
	descInstanceUp = prometheus.NewDesc("oo_instance_up",
		"1 when the instance is routable (Healthy or Degraded), else 0.", []string{"slug", "instance"}, nil)
	descTransitions = prometheus.NewDesc("oo_instance_transitions_total",
		"Status changes of the instance seen by this server since it loaded the instance.", []string{"slug", "instance"}, nil)
)

func (registryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInstances, descSlugs, descRegistrations, descHeartbeats,
		descProbing, descInstanceStatus, descInstanceUp, descTransitions} {
		ch <- d
	}
}

func (c registryCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	byStatus := make(map[api.InstanceStatus]int, len(api.Statuses))
	for _, in := range s.Instances {
		byStatus[in.Status]++
		for _, st := range api.Statuses {
			ch <- prometheus.MustNewConstMetric(descInstanceStatus, prometheus.GaugeValue, bool01(in.Status == st), in.Slug, in.ID, string(st))
		}
		up := in.Status == api.StatusHealthy || in.Status == api.StatusDegraded
		ch <- prometheus.MustNewConstMetric(descInstanceUp, prometheus.GaugeValue, bool01(up), in.Slug, in.ID)
		ch <- prometheus.MustNewConstMetric(descTransitions, prometheus.CounterValue, float64(in.Transitions), in.Slug, in.ID)
	}
	for _, st := range api.Statuses {
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(byStatus[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(descSlugs, prometheus.GaugeValue, float64(s.Slugs))
	ch <- prometheus.MustNewConstMetric(descRegistrations, prometheus.CounterValue, float64(s.Registrations))
	ch <- prometheus.MustNewConstMetric(descHeartbeats, prometheus.CounterValue, float64(s.Heartbeats))
	ch <- prometheus.MustNewConstMetric(descProbing, prometheus.GaugeValue, bool01(s.ProbingHere))
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
