package connectors

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Connect answers 409 while its workers rebalance; Put must retry rather than fail.
func TestPutRetriesWhileConnectRebalances(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error_code":409,"message":"Cannot complete request momentarily due to stale configuration"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := NewClient(srv.URL, WithPollInterval(time.Millisecond))
	if err := c.Put(context.Background(), Connector{Name: "x", Config: map[string]string{}}); err != nil {
		t.Fatalf("Put = %v", err)
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3", calls.Load())
	}
}

// A FAILED task ends the wait at once with the task's trace instead of waiting for the timeout.
func TestWaitRunningStopsAtFailedTask(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"name":"x","connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"FAILED",
			"trace":"org.postgresql.util.PSQLException: FATAL: password authentication failed\n\tat ..."}]}`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := NewClient(srv.URL, WithPollInterval(time.Millisecond)).WaitRunning(ctx, "x")
	var failed *FailedError
	if !errors.As(err, &failed) || failed.Where != "task 0" {
		t.Fatalf("WaitRunning = %v, want a FailedError for task 0", err)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitRunning waited for the timeout")
	}
}

func TestStatusOfMissingConnectorIsErrNotFound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error_code":404,"message":"No status found for connector x"}`))
	}))
	defer srv.Close()
	_, err := NewClient(srv.URL).Status(context.Background(), "x")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if err := NewClient(srv.URL).Delete(context.Background(), "x"); err != nil {
		t.Fatalf("deleting a missing connector: %v, want nil", err)
	}
}
