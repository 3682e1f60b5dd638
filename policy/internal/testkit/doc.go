// Package testkit is the test kit of the policy packages: a fake clock
// and a fake DNS server, shared so that every package's tests move time
// and answer DNS list queries the same way. Redis deployments come from
// policy/ratelimit/redistest.
//
// It is imported by tests and by test-support packages only, never by
// the daemon.
package testkit
