package timers

import (
	"testing"
	"time"
)

func TestScheduleFiresOnlyTheDeadlineInEffect(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s := newSchedule()
	s.set("a", t0.Add(1*time.Second), true)
	s.set("b", t0.Add(2*time.Second), true)
	s.set("c", t0.Add(3*time.Second), true)
	s.set("b", t0.Add(10*time.Second), true) // moved
	s.set("c", time.Time{}, false)           // cancelled (terminal, or a tombstone)

	if due := s.takeDue(t0); len(due) != 0 {
		t.Fatalf("nothing is due before the first deadline: %v", due)
	}
	due := s.takeDue(t0.Add(5 * time.Second))
	if len(due) != 1 || due[0].key != "a" || !due[0].deadline.Equal(t0.Add(time.Second)) {
		t.Fatalf("at +5s: %v, want only a's deadline (b moved to +10s, c cancelled)", due)
	}
	if due := s.takeDue(t0.Add(5 * time.Second)); len(due) != 0 {
		t.Fatalf("a deadline fires once per process: %v", due)
	}
	due = s.takeDue(t0.Add(time.Minute))
	if len(due) != 1 || due[0].key != "b" || !due[0].deadline.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("at +1m: %v, want b at its moved deadline", due)
	}
	if s.len() != 0 {
		t.Fatalf("%d deadlines left", s.len())
	}
}

func TestScheduleSettingTheSameDeadlineAgainKeepsOneEntry(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s := newSchedule()
	for range 1000 { // every write of the owner's table re-reads the key's deadline
		s.set("a", t0, true)
	}
	if len(s.heap) != 1 {
		t.Fatalf("%d heap entries for one unchanged deadline", len(s.heap))
	}
	if due := s.takeDue(t0); len(due) != 1 {
		t.Fatalf("due: %v", due)
	}
}

func TestScheduleDropsStaleEntriesOfMovedDeadlines(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s := newSchedule()
	s.set("far", t0.Add(24*time.Hour), true)
	for i := range 10000 { // one key's deadline moved again and again
		s.set("k", t0.Add(time.Hour+time.Duration(i)*time.Second), true)
	}
	s.takeDue(t0)
	if len(s.heap) > 2*s.len()+1024 {
		t.Fatalf("%d heap entries for %d pending deadlines", len(s.heap), s.len())
	}
}
