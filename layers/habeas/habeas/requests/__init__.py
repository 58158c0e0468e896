"""Data-subject requests: filing and reading (service), the requests table (store), the per-store
worker (worker), access exports (export) and signed erasure certificates (certificate)."""
