package registry

import "time"

// The proxy's error path (a failed dial, a suspect answer) must never wait for a lock a writer
// holds: it runs inside a request the proxy is already retrying on another instance, and a
// registration burst or a long maintenance pass would stall it. So a report is posted to a
// buffered channel, and whoever holds r.mu applies the posted reports before releasing it
// (r.unlock). The proxy itself applies them when r.mu is free (TryLock), which keeps the
// ejection immediate when nobody is writing; when someone is, that writer applies it as it
// unlocks. Either way the route change is published before the next request can miss it by
// more than one critical section.

// reportQueue is how many reports may wait for the lock holder. A full queue drops the report:
// the probe that follows finds the instance down anyway, only later.
const reportQueue = 1024

type report struct {
	id      string
	cause   error
	suspect bool // probe now, without marking it down
	at      time.Time
}

// ReportDialFailure is the proxy's passive health signal: it could not connect to instance id.
// The instance leaves the route table at once and is re-probed now. It never waits for a lock.
func (r *Registry) ReportDialFailure(id string, cause error) {
	r.post(report{id: id, cause: cause, at: time.Now()})
}

// ReportSuspect asks for a probe of id now, without marking it down: the proxy saw an error
// that may or may not mean the instance is gone. It never waits for a lock.
func (r *Registry) ReportSuspect(id string) {
	if !r.probing() {
		return
	}
	r.post(report{id: id, suspect: true, at: time.Now()})
}

func (r *Registry) post(rep report) {
	select {
	case r.reports <- rep:
	default:
		r.log.Warn("dropping a proxy report: too many waiting; the next probe will see the instance", "id", rep.id)
		return
	}
	if r.mu.TryLock() {
		r.unlock()
	}
}

// unlock applies the posted reports and releases r.mu. Every holder of r.mu releases it
// through unlock, so a report posted while the lock is held is applied by the holder, or, when
// posted after the holder looked, by the poster's own TryLock or the holder's check after
// releasing: none is left waiting for the next writer.
func (r *Registry) unlock() {
	for {
		r.applyReports()
		r.mu.Unlock()
		if len(r.reports) == 0 || !r.mu.TryLock() {
			return
		}
	}
}

// applyReports folds the waiting reports into the entries. Called with r.mu held.
func (r *Registry) applyReports() {
	for {
		select {
		case rep := <-r.reports:
			r.applyReport(rep)
		default:
			return
		}
	}
}

func (r *Registry) applyReport(rep report) {
	e, ok := r.byID[rep.id]
	if !ok {
		return
	}
	if r.probing() {
		e.nextProbe = rep.at
		r.wake()
	}
	if rep.suspect {
		return
	}
	down := e.h.DialFailed(rep.at, r.policy)
	if rep.cause != nil {
		e.rec.Details = "proxy could not connect: " + rep.cause.Error()
		if !down {
			e.rec.Details = notYet + e.rec.Details
		}
	}
	r.refresh(e, rep.at, "proxy could not connect")
}
